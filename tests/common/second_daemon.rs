//! A second Docker daemon of the test's own: another "machine" with an empty image
//! store, reached through its own socket. Its data and exec roots, pid file and socket are
//! in a temporary folder, its bridge is made for it (`ip link add … type bridge`), its
//! config file is an empty `{}`, iptables are left alone and the storage driver is `vfs`
//! (no overlay inside the test machine's). Never `--bridge none`: on the host's network
//! namespace dockerd then deletes the main daemon's `docker0`. Dropping it stops the
//! daemon by its pid and removes the bridge and every file.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct SecondDaemon {
    dir: TempDir,
    child: Child,
    bridge: String,
    /// `unix://…/docker.sock`, for DOCKER_HOST.
    pub host: String,
}

impl SecondDaemon {
    /// Starts a daemon and waits until it answers; fails the test with its log if it
    /// does not within a minute.
    pub fn start() -> SecondDaemon {
        Self::start_with(None)
    }

    /// A daemon that is another machine as far as anyone can tell: it runs in a UTS
    /// namespace of its own under another host name (`unshare --uts`), and is reached
    /// over TCP on the loopback (`host` is `tcp://127.0.0.1:<port>`).
    pub fn start_elsewhere() -> SecondDaemon {
        Self::start_with(Some("kiln-elsewhere"))
    }

    fn start_with(host_name: Option<&str>) -> SecondDaemon {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // At most 15 characters; unique per test process and daemon.
        let bridge = format!("kd{}x{n}", pid % 1_000_000);
        let dir = tempfile::tempdir().unwrap();
        run("ip", &["link", "add", &bridge, "type", "bridge"]);
        // A subnet of its own, from the pid and counter: a clash with another test
        // process is tried again on the next one.
        let mut addressed = false;
        for attempt in 0..20usize {
            let second = 100 + (pid as usize + n * 7 + attempt) % 150;
            let third = (pid as usize / 150 + attempt) % 250;
            let address = format!("10.{second}.{third}.1/24");
            if Command::new("ip")
                .args(["addr", "add", &address, "dev", &bridge])
                .status()
                .is_ok_and(|s| s.success())
            {
                addressed = true;
                break;
            }
        }
        assert!(addressed, "no free subnet for bridge {bridge}");
        run("ip", &["link", "set", &bridge, "up"]);
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, "{}").unwrap();
        let socket = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let tcp = host_name.map(|_| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("tcp://{}", listener.local_addr().unwrap())
        });
        let mut command = match host_name {
            // `unshare --uts` gives dockerd a host name of its own, set before it starts.
            Some(name) => {
                let mut command = Command::new("unshare");
                command.args([
                    "--uts",
                    "sh",
                    "-c",
                    &format!("hostname {name} && exec dockerd \"$@\""),
                    "dockerd",
                ]);
                command
            }
            None => Command::new("dockerd"),
        };
        if let Some(tcp) = &tcp {
            command.args(["-H", tcp]);
        }
        let child = command
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--pidfile")
            .arg(dir.path().join("docker.pid"))
            .args([
                "--bridge",
                &bridge,
                "--iptables=false",
                "--storage-driver",
                "vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("this test starts a second dockerd: {e}"));
        let daemon = SecondDaemon {
            host: tcp.unwrap_or_else(|| format!("unix://{}", socket.display())),
            dir,
            child,
            bridge,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let answers = Command::new("docker")
                .args([
                    "-H",
                    &daemon.host,
                    "version",
                    "--format",
                    "{{.Server.Version}}",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answers {
                return daemon;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log =
            std::fs::read_to_string(daemon.dir.path().join("dockerd.log")).unwrap_or_default();
        panic!("the second dockerd did not answer within a minute:\n{log}");
    }

    /// Names of the containers on this daemon (all, running or not).
    pub fn containers(&self) -> Vec<String> {
        let output = Command::new("docker")
            .args(["-H", &self.host, "ps", "-a", "--format", "{{.Names}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for SecondDaemon {
    fn drop(&mut self) {
        // SAFETY: kill only sends SIGTERM to the dockerd this value started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        // The exec root may hold mounts of containers the daemon left: unmount, then
        // the temporary folder goes with everything in it.
        let _ = Command::new("umount")
            .args(["-R", "-l"])
            .arg(self.dir.path().join("exec"))
            .stderr(Stdio::null())
            .status();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}
