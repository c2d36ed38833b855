-- Side-branch blocks never connected (status 0), by work: what the bound
-- on lighter side branches (API.md §8 "Work before bodies",
-- --max-side-bytes) reads, without scanning the active chain's blocks.
CREATE INDEX blocks_side_by_work ON blocks(cumulative_work) WHERE status = 0;
