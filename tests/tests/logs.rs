//! What the `rdv` binary writes to its log when it is not at a terminal:
//! no colour codes, and with `RDV_LOG_FORMAT=json` one JSON line per
//! answered request with its method, path, status, latency and request id.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn a_json_log_has_a_line_per_request_and_no_colour_codes() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut serve = Command::new(rdv_tests::rdv_binary())
        .arg("serve")
        .env("RDV_DATA_DIR", dir.path())
        .env("RDV_LISTEN", "127.0.0.1:0")
        .env("RDV_LOG_FORMAT", "json")
        .env_remove("RDV_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rdv serve starts");
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = loop {
        assert!(Instant::now() < deadline, "no 'rdv serving' line: {log:?}");
        let line = lines.next().expect("the log goes on").unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        log.push(line);
        if let Some(address) = entry["fields"]["address"].as_str() {
            break address.to_string();
        }
    };
    let mut stream = std::net::TcpStream::connect(&address).expect("the API listens");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: rdv\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let request = loop {
        assert!(Instant::now() < deadline, "no line for the request: {log:?}");
        let line = lines.next().expect("the log goes on").unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).expect("every line is JSON");
        log.push(line);
        if entry["span"]["path"] == "/health" && entry["fields"]["status"] == 200 {
            break entry;
        }
    };
    serve.kill().unwrap();
    let _ = serve.wait();
    assert_eq!(request["span"]["method"], "GET", "{request}");
    assert!(
        request["fields"]["latency"].as_str().is_some_and(|l| l.ends_with("ms")),
        "{request}"
    );
    assert!(
        request["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{request}"
    );
    assert!(
        log.iter().all(|line| !line.contains('\u{1b}')),
        "colour codes in {log:?}"
    );
}
