//! Virtual time: events in a priority queue ordered by (time, sequence
//! number). Two events due at the same microsecond come out in the order
//! they were scheduled, so a run never depends on the heap's tie-breaking.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

/// A moment of virtual time, in microseconds since the simulation began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    pub fn from_secs(secs: u64) -> SimTime {
        SimTime(secs * 1_000_000)
    }

    pub fn from_millis(millis: u64) -> SimTime {
        SimTime(millis * 1_000)
    }

    pub fn as_micros(self) -> u64 {
        self.0
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1_000.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self + span`, saturating.
    pub fn after(self, span: Duration) -> SimTime {
        let micros = u64::try_from(span.as_micros()).unwrap_or(u64::MAX);
        SimTime(self.0.saturating_add(micros))
    }

    pub fn plus_micros(self, micros: u64) -> SimTime {
        SimTime(self.0.saturating_add(micros))
    }

    /// `self - earlier`, zero when `earlier` is later.
    pub fn since(self, earlier: SimTime) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

struct Entry<T> {
    time: SimTime,
    seq: u64,
    event: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed: `BinaryHeap` is a max-heap, the earliest must come first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// The pending events of a simulation.
pub struct EventQueue<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> EventQueue<T> {
    pub fn new() -> EventQueue<T> {
        EventQueue::default()
    }

    /// Schedules `event` at `time`.
    pub fn push(&mut self, time: SimTime, event: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, seq, event });
    }

    /// The earliest event (the first scheduled among those due together).
    pub fn pop(&mut self) -> Option<(SimTime, T)> {
        self.heap.pop().map(|e| (e.time, e.event))
    }

    /// When the earliest event is due.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_ties_in_scheduling_order() {
        let mut q = EventQueue::new();
        q.push(SimTime(30), "c");
        q.push(SimTime(10), "a1");
        q.push(SimTime(20), "b");
        q.push(SimTime(10), "a2");
        q.push(SimTime(10), "a3");
        assert_eq!(q.peek_time(), Some(SimTime(10)));
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a1", "a2", "a3", "b", "c"]);
        assert!(q.is_empty());
    }

    #[test]
    fn an_event_scheduled_while_running_keeps_its_place() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), 1);
        q.push(SimTime(5), 2);
        let (t, first) = q.pop().expect("two events");
        assert_eq!((t, first), (SimTime(5), 1));
        // Scheduled now for the same moment: after the one already there.
        q.push(SimTime(5), 3);
        q.push(SimTime(4), 0);
        let rest: Vec<i32> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(rest, [0, 2, 3]);
    }

    #[test]
    fn time_arithmetic_saturates() {
        let t = SimTime::from_millis(1_500);
        assert_eq!(t.as_micros(), 1_500_000);
        assert_eq!(t.after(Duration::from_millis(500)), SimTime::from_secs(2));
        assert_eq!(SimTime(1).since(SimTime(5)), Duration::ZERO);
        assert_eq!(SimTime(u64::MAX - 1).plus_micros(10), SimTime(u64::MAX));
    }
}
