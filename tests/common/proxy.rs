//! A socket in front of the real daemon, for tests of what kiln does when the daemon
//! misbehaves: it passes every request through unless the test's rule says otherwise.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the proxy does with what a client sent.
pub enum Act {
    /// Pass it to the daemon.
    Pass,
    /// Answer with this HTTP response instead and close the connection.
    Answer(String),
    /// Pass it, and break the connection this long afterwards (the daemon going away).
    BreakAfter(Duration),
}

/// A running proxy: its socket lives in a folder of its own, removed with it.
pub struct Proxy {
    dir: tempfile::TempDir,
}

impl Proxy {
    /// `DOCKER_HOST` for kiln to talk to the daemon through the proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", socket(self.dir.path()).display())
    }
}

fn socket(dir: &Path) -> PathBuf {
    dir.join("docker.sock")
}

/// Starts a proxy; `rule` sees what the client sent on the connection so far (the last
/// few kilobytes, the newest chunk included).
pub fn daemon_proxy(rule: fn(&str) -> Act) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(dir.path());
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(daemon) = UnixStream::connect("/var/run/docker.sock") else {
                return;
            };
            let (mut from_daemon, mut to_client) =
                (daemon.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_daemon, &mut to_client);
            });
            std::thread::spawn(move || forward(client, daemon, rule));
        }
    });
    Proxy { dir }
}

/// Copies the client's requests to the daemon, as `rule` says.
fn forward(mut client: UnixStream, mut daemon: UnixStream, rule: fn(&str) -> Act) {
    let mut buf = [0u8; 64 * 1024];
    let mut seen = Vec::new();
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        seen.extend_from_slice(&buf[..n.min(4096)]);
        if seen.len() > 8192 {
            seen.drain(..seen.len() - 8192);
        }
        match rule(&String::from_utf8_lossy(&seen)) {
            Act::Pass => {}
            Act::Answer(response) => {
                let _ = daemon.shutdown(std::net::Shutdown::Both);
                let _ = client.write_all(response.as_bytes());
                let _ = client.shutdown(std::net::Shutdown::Both);
                return;
            }
            Act::BreakAfter(after) => {
                let (client, daemon) = (client.try_clone().unwrap(), daemon.try_clone().unwrap());
                std::thread::spawn(move || {
                    std::thread::sleep(after);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    let _ = daemon.shutdown(std::net::Shutdown::Both);
                });
                seen.clear();
            }
        }
        if daemon.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// `DOCKER_HOST` (`tcp://127.0.0.1:<port>`) for kiln to reach the real daemon over TCP,
/// as it reaches a daemon on another machine: every connection is passed through to the
/// daemon's socket. (Run kiln under another host name too, and the daemon is elsewhere
/// as far as kiln can tell.)
pub fn tcp_to_daemon() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(daemon) = UnixStream::connect("/var/run/docker.sock") else {
                return;
            };
            let (mut from_daemon, mut to_client) =
                (daemon.try_clone().unwrap(), client.try_clone().unwrap());
            let (mut from_client, mut to_daemon) = (client, daemon);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_daemon, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_client, &mut to_daemon);
                let _ = to_daemon.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    host
}

/// A socket in front of the real daemon that dies: it passes everything through until
/// a request of the client's (one read of it) makes `trigger` true; then it passes at
/// most `bytes` more of the daemon's answers, cuts every connection and refuses new ones
/// (the socket stays, nothing listens: "connection refused"), as a daemon that crashed
/// mid-request.
pub fn dying_daemon(trigger: fn(&str) -> bool, bytes: usize) -> Proxy {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    struct State {
        armed: AtomicBool,
        left: AtomicUsize,
        dead: AtomicBool,
        connections: Mutex<Vec<UnixStream>>,
    }
    impl State {
        fn die(&self) {
            self.dead.store(true, Ordering::SeqCst);
            for connection in self.connections.lock().unwrap().iter() {
                let _ = connection.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(socket(dir.path())).unwrap();
    listener.set_nonblocking(true).unwrap();
    let state = Arc::new(State {
        armed: AtomicBool::new(false),
        left: AtomicUsize::new(bytes),
        dead: AtomicBool::new(false),
        connections: Mutex::new(Vec::new()),
    });
    std::thread::spawn(move || {
        // Dropping the listener at the end leaves a socket nothing listens on.
        while !state.dead.load(Ordering::SeqCst) {
            let Ok((client, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            client.set_nonblocking(false).unwrap();
            let daemon = UnixStream::connect("/var/run/docker.sock").unwrap();
            state
                .connections
                .lock()
                .unwrap()
                .extend([client.try_clone().unwrap(), daemon.try_clone().unwrap()]);
            let (mut from_client, mut to_daemon) =
                (client.try_clone().unwrap(), daemon.try_clone().unwrap());
            let requests = Arc::clone(&state);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = match from_client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if trigger(&String::from_utf8_lossy(&buf[..n])) {
                        requests.armed.store(true, Ordering::SeqCst);
                    }
                    if requests.dead.load(Ordering::SeqCst)
                        || to_daemon.write_all(&buf[..n]).is_err()
                    {
                        return;
                    }
                }
            });
            let answers = Arc::clone(&state);
            let (mut from_daemon, mut to_client) = (daemon, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = match from_daemon.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if answers.dead.load(Ordering::SeqCst) {
                        return;
                    }
                    let mut pass = n;
                    if answers.armed.load(Ordering::SeqCst) {
                        let left = answers.left.load(Ordering::SeqCst);
                        pass = n.min(left);
                        answers.left.store(left - pass, Ordering::SeqCst);
                    }
                    if to_client.write_all(&buf[..pass]).is_err() {
                        return;
                    }
                    if pass < n
                        || (answers.armed.load(Ordering::SeqCst)
                            && answers.left.load(Ordering::SeqCst) == 0)
                    {
                        answers.die();
                        return;
                    }
                }
            });
        }
    });
    Proxy { dir }
}
