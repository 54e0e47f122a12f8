//! compose.yaml, checked without a Docker engine: its structure (images or
//! builds, restart policies, health checks, dependencies and volumes that
//! exist) and that every `rdv` service runs a subcommand the binary has,
//! with environment variables the binary reads.

use serde_yaml::Value;
use std::{collections::BTreeSet, path::Path, process::Command};

/// Variables read by the process as a whole rather than by one subcommand.
const PROCESS_WIDE: [&str; 3] = ["RDV_LOG", "RDV_LOG_FORMAT", "RDV_PG_WRITERS"];

fn keys(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Mapping(map) => map.keys().filter_map(|k| k.as_str().map(String::from)).collect(),
        Value::Sequence(items) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn compose_services_run_what_the_binary_accepts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("compose.yaml")).unwrap();
    let mut compose: Value = serde_yaml::from_str(&text).unwrap();
    compose.apply_merge().unwrap();
    for (_, service) in compose["services"].as_mapping_mut().unwrap().iter_mut() {
        service.apply_merge().unwrap();
    }
    assert!(root.join("Dockerfile").exists());
    let volumes = keys(&compose["volumes"]);
    let services = compose["services"].as_mapping().unwrap();
    let names: BTreeSet<String> = services.keys().filter_map(|k| k.as_str().map(String::from)).collect();
    for required in [
        "postgres",
        "nats",
        "gateway-1",
        "gateway-2",
        "projector",
        "relay-1",
        "relay-2",
        "publisher",
        "migrate",
    ] {
        assert!(names.contains(required), "compose.yaml has no {required} service");
    }
    let binary = rdv_tests::rdv_binary();
    let mut rdv_services = 0;
    for (name, service) in services {
        let name = name.as_str().unwrap();
        assert!(
            service.get("image").is_some() || service.get("build").is_some(),
            "{name}: no image"
        );
        assert!(service.get("restart").is_some(), "{name}: no restart policy");
        for dependency in keys(&service["depends_on"]) {
            assert!(names.contains(&dependency), "{name} depends on unknown {dependency}");
        }
        for mount in service["volumes"].as_sequence().into_iter().flatten() {
            let volume = mount.as_str().unwrap().split(':').next().unwrap();
            assert!(volumes.contains(volume), "{name}: unknown volume {volume}");
        }
        if service.get("build").is_none() {
            continue;
        }
        rdv_services += 1;
        let command = service["command"][0].as_str().unwrap_or("serve");
        let help = Command::new(&binary).args([command, "--help"]).output().unwrap();
        assert!(help.status.success(), "{name}: `rdv {command}` is not a subcommand");
        let help = String::from_utf8(help.stdout).unwrap();
        for variable in keys(&service["environment"]) {
            assert!(
                help.contains(&format!("[env: {variable}")) || PROCESS_WIDE.contains(&variable.as_str()),
                "{name}: `rdv {command}` does not read {variable}"
            );
        }
        if command == "migrate" {
            assert_eq!(service["restart"].as_str(), Some("on-failure"), "{name} runs once");
            continue;
        }
        let check = format!("{:?}", service["healthcheck"]["test"]);
        assert!(check.contains("/ready"), "{name}: its health check should ask /ready");
        if command != "serve" {
            let listen = service["environment"]["RDV_METRICS_LISTEN"]
                .as_str()
                .unwrap_or_default();
            assert!(
                check.contains(&format!(":{}/", listen.rsplit(':').next().unwrap_or("?"))),
                "{name}: its health check asks the RDV_METRICS_LISTEN port"
            );
        }
        assert!(
            keys(&service["depends_on"]).contains("migrate"),
            "{name} starts after the migrations"
        );
    }
    let env = &compose["x-rdv"]["environment"];
    let admin_token = env["RDV_ADMIN_TOKEN"].as_str().unwrap_or_default();
    assert!(admin_token.contains(":?"), "no default admin token: {admin_token}");
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        let smtp = service["environment"]["SMTP_URL"].as_str().unwrap_or_default();
        if let Some(host) = smtp.split("smtp://").nth(1).and_then(|h| h.split(':').next()) {
            assert!(
                names.contains(host),
                "{name} sends e-mails to {host}, which compose.yaml lacks"
            );
        }
    }
    let ignored = std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
    assert!(
        ignored.lines().any(|l| l.trim() == "target/"),
        "the image build leaves target/ out"
    );
    assert_eq!(
        rdv_services, 7,
        "the migrations, two gateways, the projector, two relays and the publisher"
    );
}
