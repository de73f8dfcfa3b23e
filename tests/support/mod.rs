//! What the top-level tests share: the real `frontline` binary, started in an empty folder with
//! only the test's variables, on loopback.

#![allow(dead_code)] // each test file uses its own part of this

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_frontline");

/// Kills the server if a test fails before stopping it.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `frontline` run in `dir`, on the demo flows and knowledge, local understanding, data in
/// `dir/data`.
pub fn frontline(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    // Run in an empty folder with only our variables, so no local frontline.toml leaks in.
    cmd.current_dir(dir)
        .env_remove("FRONTLINE_CONFIG")
        .env("FRONTLINE_DATA_DIR", dir.join("data"))
        .env(
            "FRONTLINE_FLOWS__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows"),
        )
        .env(
            "FRONTLINE_KNOWLEDGE__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../knowledge"),
        )
        // The default understanding; an OPENAI_* variable of the developer's must not switch
        // these tests to LLM mode.
        .env("FRONTLINE_UNDERSTANDING__MODE", "local")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env("RUST_LOG", "warn");
    cmd
}

/// Start `frontline serve` on a free port; returns the process and its base URL.
pub fn start(dir: &std::path::Path, database_url: Option<String>) -> (Running, String) {
    start_on(frontline(dir), "127.0.0.1:0", database_url)
}

/// Start `cmd` as `frontline serve` on `bind`; returns the process and its base URL. Its
/// stderr goes where `cmd` says (the test's, unless the caller pipes it).
pub fn start_on(mut cmd: Command, bind: &str, database_url: Option<String>) -> (Running, String) {
    cmd.args(["serve", "--bind", bind]).stdout(Stdio::piped());
    if let Some(url) = database_url {
        cmd.env("FRONTLINE_STORE__DATABASE_URL", url);
    }
    let mut child = cmd.spawn().expect("spawn frontline serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let base = line
        .trim()
        .strip_prefix("frontline listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (Running(child), base)
}

/// Ask the server to stop (SIGTERM) and wait up to 10 s for it to exit.
pub fn sigterm_and_wait(mut server: Running) -> std::process::ExitStatus {
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "frontline did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free loopback port (so a restarted server can listen where its clients expect it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `n` customers of the shop with a pending order each: (email, order id).
pub async fn customers_with_a_pending_order(
    shop: &frontline_shop::Shop,
    n: usize,
) -> Vec<(String, String)> {
    let data = shop.export().await.unwrap();
    let mut customers: Vec<(String, String)> = vec![];
    for order in data.orders.values() {
        let email = &data.users[&order.user_id].email;
        if order.status == frontline_shop::model::OrderStatus::Pending
            && customers.iter().all(|(e, _)| e != email)
        {
            customers.push((email.clone(), order.order_id.clone()));
        }
    }
    assert!(
        customers.len() >= n,
        "only {} customers with pending orders",
        customers.len()
    );
    customers.truncate(n);
    customers
}

/// A new web chat session on `base`: the session id, and the `cookie` header value carrying it.
pub async fn webchat_session(http: &reqwest::Client, base: &str) -> (String, String) {
    let session: serde_json::Value = http
        .get(format!("{base}/v1/webchat/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = session["session"].as_str().unwrap().to_string();
    let cookie = format!("{}={session}", frontline_server::webchat::COOKIE);
    (session, cookie)
}

/// A real SMTP server (aiosmtpd, installed by `scripts/smtp.sh`) on a free loopback port,
/// keeping what it receives in a maildir; stopped when dropped.
pub struct Smtp {
    child: Child,
    /// Its port.
    pub port: u16,
    /// The maildir its messages land in (`new/`).
    pub maildir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start an [`Smtp`] server.
pub fn smtp() -> Smtp {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/smtp.sh"
    ))
    .output()
    .expect("running scripts/smtp.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("inbox");
    let child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .spawn()
        .expect("start aiosmtpd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Smtp {
        child,
        port,
        maildir,
        _dir: dir,
    }
}
