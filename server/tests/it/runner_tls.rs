//! H4: a runner reaches its server over wss:// (rustls, system roots plus
//! a CA passed with --ca-cert), and refuses clear-text ws:// to another
//! machine unless told --insecure.

use std::process::{Command, Stdio};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::common;
use crate::runners::{runner_token, runners, wait_online, RunnerProcess};

/// A TLS endpoint (certificate for `localhost`, signed by a fresh CA) that
/// forwards to `upstream`, as a reverse proxy would. Returns its port and
/// the CA's PEM.
async fn tls_proxy(upstream: std::net::SocketAddr) -> (u16, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Yagura test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // a client that does not trust us
                };
                if let Ok(mut up) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    (port, ca.pem())
}

fn runner(
    server: &str,
    token: &str,
    name: &str,
    extra: &[&str],
    work: &std::path::Path,
) -> RunnerProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args([
            "runner", "--server", server, "--token", token, "--name", name,
        ])
        .args(["--heartbeat-secs", "0.3", "--work-dir"])
        .arg(work)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    RunnerProcess { child }
}

#[tokio::test]
async fn a_runner_connects_over_wss_with_a_given_ca() {
    let t = common::start().await;
    let token = t.setup_admin().await;
    let (port, ca_pem) = tls_proxy(t.server.addr).await;
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let server = format!("wss://localhost:{port}");

    // Without the CA the certificate is not trusted: never online.
    let (_, untrusting) = runner_token(&t, &token, "untrusting").await;
    let _refused = runner(
        &server,
        &untrusting,
        "untrusting",
        &[],
        &work.path().join("a"),
    );
    let (_, trusting) = runner_token(&t, &token, "trusting").await;
    let ca_arg = ca.display().to_string();
    let _ok = runner(
        &server,
        &trusting,
        "trusting",
        &["--ca-cert", &ca_arg],
        &work.path().join("b"),
    );
    wait_online(&t, &token, "trusting", true).await;
    let list = runners(&t, &token).await;
    assert!(
        !list
            .iter()
            .any(|r| r["name"] == "untrusting" && r["online"] == true),
        "{list:?}"
    );
    t.shutdown().await;
}

#[test]
fn clear_text_to_another_machine_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args([
            "runner",
            "--server",
            "ws://yagura.example:3000",
            "--token",
            "yrt_x",
            "--work-dir",
        ])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not encrypted") && stderr.contains("wss://"),
        "{stderr}"
    );
}
