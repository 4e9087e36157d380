//! chromedriver as a child process: one per test, on a port it picks itself,
//! shut down (with the Chromium it started) when dropped, even by a panic.

use std::env;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Set to `1` to skip the browser tests where chromedriver cannot be had.
pub const SKIP_VARIABLE: &str = "TALLY_SKIP_BROWSER_TESTS";

const HOW_TO_INSTALL: &str = "the browser tests need chromedriver and Chromium on the PATH: \
     `apt-get install chromium chromium-driver` on Debian (`bash scripts/test` installs them \
     when run as root), or set TALLY_SKIP_BROWSER_TESTS=1 to skip these tests";

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// A running chromedriver; `None` when the tests are to be skipped. Panics
    /// when chromedriver is missing and skipping was not asked for: a test
    /// that cannot run must not pass.
    pub fn start() -> Option<Driver> {
        if env::var(SKIP_VARIABLE).is_ok_and(|value| value == "1") {
            return None;
        }
        let Some(program) = on_path("chromedriver") else {
            panic!("chromedriver not found: {HOW_TO_INSTALL}");
        };
        let mut child = Command::new(&program)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{} not started: {error}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        match listening_port(stdout) {
            Ok(port) => Some(Driver { child, port }),
            Err(output) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver did not start: {output}\n{HOW_TO_INSTALL}");
            }
        }
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `/shutdown` ends every session first, so no Chromium outlives the
        // test; a driver that does not stop in time is killed.
        let _ = get(self.port, "/shutdown");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The port from chromedriver's `… started successfully on port N.`; the
/// lines read so far when it does not come. A thread keeps draining the
/// output afterwards so the driver never blocks on a full pipe.
fn listening_port(stdout: impl std::io::Read + Send + 'static) -> Result<u16, String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // Once the port is known nobody listens: read on until the driver exits.
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = receiver.recv_timeout(left) else {
            break;
        };
        if let Some(port) = port_in(&line) {
            return Ok(port);
        }
        seen.push(line);
    }
    Err(seen.join("\n"))
}

fn port_in(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("started successfully on port ")?;
    rest.trim_end_matches('.').trim().parse().ok()
}

/// A bare blocking `GET`, so `Drop` can reach the driver without a runtime.
fn get(port: u16, path: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(STOP_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
    Ok(())
}
