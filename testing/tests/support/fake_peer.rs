//! A fake peer: a small HTTP server on a free loopback port whose answers a
//! test decides request by request, to play a dishonest, silent or
//! counting node. Stopped when dropped.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// A request the fake peer received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The `X-Cinder-Node` header, if any.
    pub from: Option<String>,
    pub body: Vec<u8>,
}

/// What to answer: a status and a JSON body, or `None` to never answer.
pub type Answer = Option<(u16, Vec<u8>)>;

type Handler = Arc<dyn Fn(&Received) -> Answer + Send + Sync>;

pub struct FakePeer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl FakePeer {
    /// Serves on a free port, answering each request with `answer`.
    pub fn start(answer: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> FakePeer {
        let handler: Handler = Arc::new(answer);
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("local address").port();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    let handler = handler.clone();
                    let log = log.clone();
                    App::new().default_service(web::to(
                        move |req: HttpRequest, body: web::Bytes| {
                            let handler = handler.clone();
                            let log = log.clone();
                            async move {
                                let received = Received {
                                    method: req.method().to_string(),
                                    target: req.uri().to_string(),
                                    from: req
                                        .headers()
                                        .get("x-cinder-node")
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_string),
                                    body: body.to_vec(),
                                };
                                log.lock().expect("log lock").push(received.clone());
                                match handler(&received) {
                                    Some((status, body)) => HttpResponse::build(
                                        actix_web::http::StatusCode::from_u16(status)
                                            .expect("a valid status"),
                                    )
                                    .content_type("application/json")
                                    .body(body),
                                    None => {
                                        // Silent: hold the connection open.
                                        actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
                                        HttpResponse::Ok().finish()
                                    }
                                }
                            }
                        },
                    ))
                })
                .workers(2)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .expect("listen")
                .run();
                tx.send(server.handle()).expect("handle sent");
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("fake peer started");
        FakePeer {
            port,
            received,
            handle,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `{"ip_address": "127.0.0.1", "port": PORT}`.
    pub fn node_json(&self) -> String {
        format!(r#"{{"ip_address":"127.0.0.1","port":{}}}"#, self.port)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log lock").clone()
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        let stop = self.handle.stop(false);
        let rt = actix_web::rt::System::new();
        rt.block_on(stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A JSON answer.
pub fn json(status: u16, value: &serde_json::Value) -> Answer {
    Some((status, serde_json::to_vec(value).expect("serialisable")))
}
