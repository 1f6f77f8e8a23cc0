//! The HTTPS listener ([`StandIn::start_tls`]): a client that trusts only the stand-in's
//! generated CA, loaded from the PEM file a benchmark would name in `SSL_CERT_FILE`, gets the
//! same answers as over plain HTTP, under both names the certificate covers; a client that
//! trusts another CA is refused during the handshake.

use std::time::Duration;

use crate::common::*;
use recipe_share_standin::{Options, StandIn};
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

fn roots(pem: &[u8]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.expect("PEM certificate")).expect("usable CA");
    }
    assert_eq!(roots.len(), 1, "exactly the stand-in's CA");
    roots
}

#[test]
fn https_with_only_the_generated_ca() {
    let s = StandIn::start_tls(Options::default());
    assert!(s.url().starts_with("https://127.0.0.1:"), "{}", s.url());
    assert!(s.response_prefix().starts_with("https://"));
    let pem = s.ca_pem().expect("a TLS stand-in has a CA");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let path = std::env::temp_dir().join(format!("standin-ca-{}-{}.pem", std::process::id(), s.url().len()));
    s.write_ca_pem(&path).unwrap();
    let from_file = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(from_file, pem.as_bytes());

    let mut c = Client::connect_tls(&s.url(), "127.0.0.1", roots(&from_file)).expect("TLS handshake");
    let unsigned = c.request("POST", "/ListImageRecipes", &[], b"{}");
    assert_eq!(
        (unsigned.status, unsigned.error_type()),
        (403, Some("ForbiddenException"))
    );
    // The CloudFormation response PUT, on the same (kept-alive) TLS connection.
    let target = s.response_url("stack-1/req-1").trim_start_matches(&s.url()).to_string();
    let body = br#"{"Status":"SUCCESS","PhysicalResourceId":"p"}"#;
    let ok = c.request("PUT", &target, &[("Content-Type", "")], body);
    assert_eq!((ok.status, ok.body.len()), (200, 0));
    let got = s.wait_responses(1, Duration::from_secs(2));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/cfn-response/stack-1/req-1");
    assert_eq!(got[0].json.as_ref().unwrap()["Status"], "SUCCESS");

    // The leaf certificate also names localhost.
    let mut by_name = Client::connect_tls(&s.url(), "localhost", roots(pem.as_bytes())).expect("TLS as localhost");
    assert_eq!(
        by_name
            .request("POST", "/listpermissions", &[("Authorization", AUTH)], b"{}")
            .status,
        200
    );
    assert_eq!(s.call_count("ListImageRecipes"), 1);
    assert_eq!(s.call_count("ListPermissions"), 1);
}

#[test]
fn another_ca_is_refused_and_plain_http_has_none() {
    let s = StandIn::start_tls(Options::default());
    let other = StandIn::start_tls(Options::default());
    assert_ne!(s.ca_pem(), other.ca_pem(), "each stand-in makes its own CA");
    let err = Client::connect_tls(&s.url(), "127.0.0.1", roots(other.ca_pem().unwrap().as_bytes()))
        .err()
        .expect("handshake with a chain from an unknown CA");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(s.calls().is_empty());

    let plain = StandIn::start(Options::default());
    assert!(plain.url().starts_with("http://"));
    assert_eq!(plain.ca_pem(), None);
    assert!(
        plain
            .write_ca_pem(&std::env::temp_dir().join("never-written.pem"))
            .is_err()
    );
}
