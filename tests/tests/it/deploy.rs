//! The deployment files under `deploy/` and the configuration reference
//! `docs/configuration.md`, checked against the code so that they cannot
//! drift from it.
//!
//! No container engine or cluster runs here, so this checks what can be
//! checked statically, with the real piece wherever there is one: the
//! configurations load with the real loader (`Config::load_with_env`), the
//! container commands are parsed by the real binaries' clap definitions, the
//! health-checked service name comes from the generated gRPC code, the lane
//! queues from `Lane::ALL`, and the documented keys and defaults from a
//! serialized `Config`. Each kind of check also has a case showing it fails
//! on a wrong input.
//!
//! The files are read into models by `musicmeta_tests::deploy`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use musicmeta_proto::v1::metadata_service_server::SERVICE_NAME;
use musicmeta_shared::config::Config;
use musicmeta_shared::jobs::Lane;
use musicmeta_tests::deploy::compose::{
    COMPOSE, compose, compose_containers, compose_service, compose_services,
};
use musicmeta_tests::deploy::config_doc::{
    DOC, code_spans, doc_key_rows, key_differences, section, table_rows, variables_read_by_code,
};
use musicmeta_tests::deploy::config_keys::{
    check_variable, code_keys, keys_of, sample_value, urls, variable_of,
};
use musicmeta_tests::deploy::containers::{ConfigFile, Container, all_containers, clap_accepts};
use musicmeta_tests::deploy::dockerfile::{DOCKERFILE, dockerfile};
use musicmeta_tests::deploy::k8s::{K8S, k8s};
use musicmeta_tests::deploy::yaml::{
    all_yaml_files, entries, list, list_or_empty, scalar, strings, text, yaml_file,
};
use musicmeta_tests::deploy::{IMAGE, NON_KEY_VARS, PROGRAMS, TempFile, VERSION, read, root};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

#[test]
fn every_yaml_file_under_deploy_parses() {
    let mut files = Vec::new();
    all_yaml_files(&root().join("deploy"), &mut files);
    let rel: BTreeSet<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(root())
                .expect("under root")
                .display()
                .to_string()
        })
        .collect();
    for expected in [
        "deploy/config.example.yaml",
        "deploy/compose/compose.yaml",
        "deploy/compose/config.yaml",
        "deploy/k8s/kustomization.yaml",
        "deploy/k8s/config.yaml",
    ] {
        assert!(rel.contains(expected), "missing {expected}; found {rel:?}");
    }
    for file in &rel {
        let docs = yaml_file(file);
        assert!(!docs.is_empty(), "{file}: no YAML document");
        for (i, doc) in docs.iter().enumerate() {
            assert!(
                doc.as_hash().is_some(),
                "{file} document {i}: not a mapping"
            );
        }
    }
    // Multi-document files are read whole.
    assert_eq!(yaml_file("deploy/k8s/query-api.yaml").len(), 5);
    assert!(YamlLoader::load_from_str("a: [1, 2\n").is_err());
}

/// (a) Every configuration file loads with the real loader, so every key it
/// sets exists and every value is valid.
#[test]
fn configuration_files_load_with_the_real_loader() {
    let example = root().join("deploy/config.example.yaml");
    Config::load_with_env(Some(&example), HashMap::new())
        .unwrap_or_else(|e| panic!("config.example.yaml alone: {e}"));
    Config::load_with_env(Some(&example), urls())
        .unwrap_or_else(|e| panic!("config.example.yaml with DATABASE_URL/AMQP_URL: {e}"));

    // Each container's own file and environment, as it will start.
    let containers = all_containers();
    let mut loaded = BTreeSet::new();
    for c in &containers {
        let config = c
            .config()
            .unwrap_or_else(|e| panic!("{}: its configuration does not load: {e}", c.origin));
        if let Some(file) = &c.config_file {
            loaded.insert(
                file.strip_prefix(root())
                    .unwrap_or(file)
                    .display()
                    .to_string(),
            );
        }
        if c.runs("ingest-worker", "run") {
            config
                .musicbrainz
                .check_contact()
                .unwrap_or_else(|e| panic!("{}: the worker would not start: {e}", c.origin));
        }
    }
    assert!(
        loaded.contains("deploy/compose/config.yaml") && loaded.contains("deploy/k8s/config.yaml"),
        "containers load {loaded:?}"
    );

    // The k8s ConfigMap, as generated from its file (written out, as a
    // mounted ConfigMap key would be).
    let k8s = k8s();
    assert!(
        !k8s.config_maps().is_empty(),
        "the k8s base has a ConfigMap"
    );
    for (name, files) in k8s.config_maps() {
        for (key, file) in files {
            let text = match file {
                ConfigFile::Path(p) => read(&p),
                ConfigFile::Text(t) => t,
            };
            let temp = TempFile::new(&text);
            Config::load_with_env(Some(&temp.0), urls())
                .unwrap_or_else(|e| panic!("ConfigMap {name} key {key}: {e}"));
        }
    }

    // The check fails on a key the code does not have.
    let bad = TempFile::new("grpc:\n  listen_adress: 0.0.0.0:50051\n");
    let e = Config::load_with_env(Some(&bad.0), urls()).unwrap_err();
    assert!(e.to_string().contains("listen_adress"), "{e}");
}

/// (b) Every `MUSICMETA_` variable the manifests set names a real key (or is
/// one of the non-key variables).
#[test]
fn every_musicmeta_variable_names_a_real_key() {
    let mut checked = 0;
    for c in all_containers() {
        for (name, value) in &c.env {
            if name.starts_with("MUSICMETA_") {
                check_variable(name, value).unwrap_or_else(|e| panic!("{}: {e}", c.origin));
                checked += 1;
            }
        }
    }
    // compose: GRPC__LISTEN_ADDR, MUSICBRAINZ__USER_AGENT; k8s: LISTEN_ADDR, LOG_FORMAT ×3.
    assert!(checked >= 5, "only {checked} MUSICMETA_ variables found");

    // The check fails on a variable that names no key, or misspells one.
    for name in [
        "MUSICMETA_GRPC__LISTEN_ADRESS",
        "MUSICMETA_CACHE__TTL_SECS__RELASE",
        "MUSICMETA_GPRC__LISTEN_ADDR",
        "MUSICMETA_LOGFORMAT",
    ] {
        assert!(
            check_variable(name, "0.0.0.0:50051").is_err(),
            "{name} accepted"
        );
    }
    // ... and on a real key with an invalid value.
    assert!(check_variable("MUSICMETA_AMQP__PREFETCH", "0").is_err());
    assert!(check_variable("MUSICMETA_GRPC__LISTEN_ADDR", "0.0.0.0:50051").is_ok());
}

/// (c) The ports published and probed are the port query-api listens on.
#[test]
fn ports_and_health_checks_agree_with_grpc_listen_addr() {
    let dockerfile = dockerfile();
    let probe_binaries = dockerfile.runtime_files();

    // compose
    let compose = compose();
    let api: Vec<Container> = compose_containers()
        .into_iter()
        .filter(|c| c.runs("query-api", "serve"))
        .collect();
    assert_eq!(api.len(), 1, "one query-api service in {COMPOSE}");
    let listen = api[0].config().expect("loads").grpc.listen_addr;
    assert!(
        listen.ip().is_unspecified(),
        "compose query-api listens on {listen}: unreachable from outside its container"
    );
    let name = api[0].owner.as_str();
    let service = compose_service(&compose, name);
    let container_ports: Vec<u16> = strings(&service["ports"], name)
        .iter()
        .map(|p| {
            let container = p
                .rsplit(':')
                .next()
                .expect("port")
                .split('/')
                .next()
                .expect("port");
            container
                .parse()
                .unwrap_or_else(|_| panic!("{name}: port {p:?}"))
        })
        .collect();
    assert_eq!(
        container_ports,
        vec![listen.port()],
        "{name} publishes {container_ports:?}, listens on {listen}"
    );
    let test = strings(&service["healthcheck"]["test"], name);
    assert_eq!(
        test.first().map(String::as_str),
        Some("CMD"),
        "{name}: healthcheck in exec form (the image has no shell): {test:?}"
    );
    assert!(
        probe_binaries.contains(&test[1]),
        "{name}: the healthcheck runs {}, which {DOCKERFILE} does not install ({probe_binaries:?})",
        test[1]
    );
    assert!(test[1].ends_with("grpc_health_probe"), "{test:?}");
    let addr = test
        .iter()
        .find_map(|a| a.strip_prefix("-addr="))
        .expect("-addr=");
    let addr: SocketAddr = addr.parse().expect("-addr=<ip>:<port>");
    assert_eq!(
        addr.port(),
        listen.port(),
        "{name}: probes {addr}, listens on {listen}"
    );
    assert!(
        test.contains(&format!("-service={SERVICE_NAME}")),
        "{name}: probe the lookup service ({SERVICE_NAME}), which turns NOT_SERVING on shutdown: {test:?}"
    );
    for (service_name, image, probe) in [
        ("postgres", "postgres", "pg_isready"),
        ("rabbitmq", "rabbitmq", "rabbitmq-diagnostics"),
    ] {
        let service = compose_service(&compose, service_name);
        assert!(text(&service["image"], service_name).starts_with(image));
        let test = strings(&service["healthcheck"]["test"], service_name);
        assert!(
            test.iter().any(|w| w == probe),
            "{service_name} healthcheck: {test:?}"
        );
    }
    let ping = strings(
        &compose_service(&compose, "rabbitmq")["healthcheck"]["test"],
        "rabbitmq",
    );
    assert!(ping.contains(&"ping".to_owned()), "{ping:?}");

    // k8s
    let k8s = k8s();
    let containers = k8s.containers();
    let api: Vec<&Container> = containers
        .iter()
        .filter(|c| c.runs("query-api", "serve"))
        .collect();
    assert_eq!(api.len(), 1, "one query-api container in {K8S}");
    let listen = api[0].config().expect("loads").grpc.listen_addr;
    assert!(
        listen.ip().is_unspecified(),
        "k8s query-api listens on {listen}: unreachable for the kubelet and other pods"
    );
    let deployment_name = api[0]
        .owner
        .strip_prefix("Deployment/")
        .unwrap_or_else(|| panic!("query-api runs in a Deployment, not {}", api[0].owner));
    let deployment = k8s.named("Deployment", deployment_name);
    let container = list_or_empty(&deployment["spec"]["template"]["spec"]["containers"])
        .iter()
        .find(|c| c["name"].as_str() == Some(api[0].name.as_str()))
        .expect("the container");
    let ports: Vec<(Option<String>, i64)> = list_or_empty(&container["ports"])
        .iter()
        .map(|p| {
            (
                p["name"].as_str().map(str::to_owned),
                p["containerPort"].as_i64().expect("containerPort"),
            )
        })
        .collect();
    let port_named = |name: &str| {
        ports
            .iter()
            .find(|p| p.0.as_deref() == Some(name))
            .map(|p| p.1)
    };
    assert_eq!(
        port_named("grpc"),
        Some(i64::from(listen.port())),
        "{deployment_name}: the grpc containerPort vs {listen}"
    );
    // A metrics port, if declared, is where MUSICMETA_METRICS__LISTEN_ADDR points.
    let metrics_env = list_or_empty(&container["env"])
        .iter()
        .find(|e| e["name"].as_str() == Some("MUSICMETA_METRICS__LISTEN_ADDR"))
        .and_then(|e| e["value"].as_str())
        .map(|v| v.parse::<SocketAddr>().expect("metrics address").port());
    assert_eq!(
        port_named("metrics"),
        metrics_env.map(i64::from),
        "{deployment_name}: the metrics containerPort vs MUSICMETA_METRICS__LISTEN_ADDR"
    );
    assert_eq!(
        ports.len(),
        1 + usize::from(metrics_env.is_some()),
        "{deployment_name}: stray ports {ports:?}"
    );
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let p = &container[probe];
        if p.is_badvalue() {
            assert_ne!(
                probe, "readinessProbe",
                "{deployment_name} needs a readinessProbe"
            );
            assert_ne!(
                probe, "livenessProbe",
                "{deployment_name} needs a livenessProbe"
            );
            continue;
        }
        let grpc = &p["grpc"];
        assert!(
            !grpc.is_badvalue(),
            "{deployment_name} {probe}: must be a grpc probe: {p:?}"
        );
        assert_eq!(
            grpc["port"].as_i64(),
            Some(i64::from(listen.port())),
            "{deployment_name} {probe} port vs {listen}"
        );
        let service = grpc["service"].as_str().unwrap_or_default();
        let expected = if probe == "readinessProbe" {
            SERVICE_NAME
        } else {
            ""
        };
        assert_eq!(service, expected, "{deployment_name} {probe}: service");
    }
    // The Service reaches that port, and selects these pods.
    let pod_labels = entries(
        &deployment["spec"]["template"]["metadata"]["labels"],
        "labels",
    );
    let selects = |selector: &Yaml| {
        entries(selector, "selector")
            .into_iter()
            .all(|(k, v)| pod_labels.iter().any(|(pk, pv)| *pk == k && pv == &v))
    };
    let services: Vec<&Yaml> = k8s
        .of_kind("Service")
        .into_iter()
        .filter(|s| selects(&s["spec"]["selector"]))
        .collect();
    // The ClusterIP Service and the headless one (client-side balancing).
    assert_eq!(services.len(), 2, "two Services select {deployment_name}");
    for port in services
        .iter()
        .flat_map(|service| list_or_empty(&service["spec"]["ports"]))
    {
        let target = &port["targetPort"];
        let resolved = match target {
            Yaml::Integer(n) => *n,
            Yaml::String(name) => {
                ports
                    .iter()
                    .find(|(n, _)| n.as_deref() == Some(name))
                    .unwrap_or_else(|| panic!("Service targetPort {name} names no container port"))
                    .1
            }
            _ => port["port"].as_i64().expect("port"),
        };
        assert_eq!(
            resolved,
            i64::from(listen.port()),
            "Service port reaches {resolved}, query-api listens on {listen}"
        );
    }
    let pdbs: Vec<&Yaml> = k8s
        .of_kind("PodDisruptionBudget")
        .into_iter()
        .filter(|p| selects(&p["spec"]["selector"]["matchLabels"]))
        .collect();
    assert_eq!(
        pdbs.len(),
        1,
        "one PodDisruptionBudget for {deployment_name}"
    );
}

/// (d) One image, built by compose and named by every manifest.
#[test]
fn every_manifest_names_the_same_image() {
    let expected = format!("{IMAGE}:{VERSION}");
    let containers = all_containers();
    assert!(containers.len() >= 6, "{} containers", containers.len());
    for c in &containers {
        assert_eq!(
            c.image, expected,
            "{}: image (the workspace version is {VERSION})",
            c.origin
        );
    }
    let compose = compose();
    let mut built = 0;
    for (name, service) in compose_services(&compose) {
        let build = &service["build"];
        if build.is_badvalue() {
            continue;
        }
        built += 1;
        assert_eq!(
            service["image"].as_str(),
            Some(expected.as_str()),
            "{name}: builds, so names the image"
        );
        let context = root()
            .join("deploy/compose")
            .join(text(&build["context"], &name));
        assert_eq!(
            context.canonicalize().expect("context exists"),
            root().canonicalize().expect("root"),
            "{name}: the build context is the workspace root"
        );
        assert_eq!(
            text(&build["dockerfile"], &name),
            DOCKERFILE,
            "{name}: dockerfile"
        );
    }
    assert!(built >= 1, "compose builds the image");
    let k8s = k8s();
    assert!(
        k8s.kustomization["images"].is_badvalue(),
        "retag in an overlay, not in the base"
    );
}

#[test]
fn dockerfile_builds_both_programs_for_a_non_root_user() {
    let dockerfile = dockerfile();
    assert!(dockerfile.stages.len() >= 2, "multi-stage");
    let runtime = dockerfile.runtime();
    let from = &runtime.instructions[0].1;
    assert!(
        !from.starts_with("rust"),
        "the runtime image is not the builder: {from}"
    );
    let user = runtime
        .instructions
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, u)| u.clone())
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid != "root" && uid != "0" && uid.parse::<u32>().is_ok(),
        "USER {user}: numeric and not root, so runAsNonRoot can verify it"
    );
    let build: String = dockerfile
        .stages
        .iter()
        .filter(|s| s.name.is_some())
        .flat_map(|s| s.instructions.iter())
        .filter(|(i, _)| i == "RUN")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(build.contains("cargo build --release"), "release build");
    let installed = dockerfile.runtime_files();
    for program in PROGRAMS {
        assert!(
            build.contains(&format!("--bin {program}")),
            "builds {program}"
        );
        assert!(
            installed.contains(&format!("/usr/local/bin/{program}")),
            "installs {program}: {installed:?}"
        );
    }
    clap_accepts(&dockerfile.cmd()).unwrap_or_else(|e| panic!("CMD: {e}"));
}

/// (e) Every command is a real subcommand of a real program, with options
/// its parser accepts.
#[test]
fn commands_are_real_subcommands() {
    let containers = all_containers();
    for c in &containers {
        let sub = c
            .invocation
            .subcommand
            .as_deref()
            .unwrap_or_else(|| panic!("{}: name the subcommand: {:?}", c.origin, c.argv));
        let allowed: &[&str] = match c.invocation.program.as_str() {
            "query-api" => &["serve", "migrate"],
            "ingest-worker" => &["run", "migrate"],
            other => panic!("{}: runs {other}", c.origin),
        };
        assert!(
            allowed.contains(&sub),
            "{}: a deployment runs {allowed:?}, not {sub}",
            c.origin
        );
        clap_accepts(&c.argv)
            .unwrap_or_else(|e| panic!("{}: {:?} is rejected: {e}", c.origin, c.argv));
    }
    // What each deployment must run.
    let compose = compose_containers();
    let k8s = k8s().containers();
    for (name, set) in [("compose", &compose), ("k8s", &k8s)] {
        for (program, sub) in [
            ("query-api", "serve"),
            ("ingest-worker", "run"),
            ("query-api", "migrate"),
        ] {
            assert!(
                set.iter().any(|c| c.runs(program, sub)),
                "{name}: nothing runs {program} {sub}"
            );
        }
    }
    // The check fails on subcommands and options the programs do not have.
    for argv in [
        &["query-api", "run"][..],
        &["ingest-worker", "serve"],
        &["query-api", "--config", "/etc/x.yaml", "migrat"],
        &["ingest-worker", "--konfig", "/etc/x.yaml", "run"],
        &["musicmeta", "serve"],
    ] {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        assert!(clap_accepts(&argv).is_err(), "{argv:?} accepted");
    }
}

#[test]
fn compose_starts_in_order_and_scales_workers() {
    let compose = compose();
    let containers = compose_containers();
    let service_of = |program: &str, sub: &str| {
        let c = containers
            .iter()
            .find(|c| c.runs(program, sub))
            .unwrap_or_else(|| panic!("no service runs {program} {sub}"));
        (c.owner.clone(), compose_service(&compose, &c.owner).clone())
    };
    let (migrate, migrate_service) = service_of("query-api", "migrate");
    assert_eq!(
        scalar(&migrate_service["restart"]).as_deref(),
        Some("no"),
        "{migrate} is one-shot"
    );
    for (program, sub) in [("query-api", "serve"), ("ingest-worker", "run")] {
        let (name, service) = service_of(program, sub);
        let depends = &service["depends_on"];
        for (dep, condition) in [
            ("postgres", "service_healthy"),
            ("rabbitmq", "service_healthy"),
            (migrate.as_str(), "service_completed_successfully"),
        ] {
            assert_eq!(
                depends[dep]["condition"].as_str(),
                Some(condition),
                "{name} depends on {dep}"
            );
        }
    }
    let (worker, service) = service_of("ingest-worker", "run");
    assert!(
        service["container_name"].is_badvalue(),
        "{worker}: a container_name prevents --scale"
    );
    assert!(
        service["ports"].is_badvalue(),
        "{worker}: fixed host ports prevent --scale"
    );
    let ua = &containers
        .iter()
        .find(|c| c.runs("ingest-worker", "run"))
        .expect("worker")
        .env["MUSICMETA_MUSICBRAINZ__USER_AGENT"];
    assert!(
        ua.contains("CHANGE-ME"),
        "the shipped User-Agent is a placeholder that says to change it: {ua}"
    );
}

#[test]
fn kubernetes_base_is_complete() {
    let k8s = k8s();
    // Every manifest in the directory is used.
    let mut listed: BTreeSet<String> = strings(&k8s.kustomization["resources"], "resources")
        .into_iter()
        .collect();
    listed.insert("kustomization.yaml".into());
    for files in k8s.generated.values() {
        for path in files.values() {
            listed.insert(
                path.file_name()
                    .and_then(|n| n.to_str())
                    .expect("name")
                    .to_owned(),
            );
        }
    }
    for entry in std::fs::read_dir(root().join(K8S)).expect("read k8s dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            listed.contains(&name),
            "{K8S}/{name} is not in kustomization.yaml"
        );
    }
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Job",
        "Secret",
        "ScaledObject",
        "TriggerAuthentication",
        "HorizontalPodAutoscaler",
    ] {
        assert!(!k8s.of_kind(kind).is_empty(), "the base has no {kind}");
    }
    for (object, pod) in k8s.pod_specs() {
        let name = text(&object["metadata"]["name"], "name");
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{name}: runAsNonRoot"
        );
        for c in list_or_empty(&pod["containers"]) {
            for bound in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        scalar(&c["resources"][bound][resource]).is_some(),
                        "{name}: resources.{bound}.{resource}"
                    );
                }
            }
        }
    }
    let containers = k8s.containers();
    let deployments_running = |program: &str, sub: &str| {
        containers
            .iter()
            .filter(|c| c.runs(program, sub) && c.owner.starts_with("Deployment/"))
            .map(|c| c.owner.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert_eq!(deployments_running("query-api", "serve"), 1);
    assert_eq!(deployments_running("ingest-worker", "run"), 1);
    assert!(
        containers
            .iter()
            .any(|c| c.runs("query-api", "migrate") && c.owner.starts_with("Job/")),
        "a Job runs the migrations"
    );
    let secrets = k8s.secrets();
    for c in &containers {
        for var in ["DATABASE_URL", "AMQP_URL"] {
            assert!(c.env.contains_key(var), "{}: {var}", c.origin);
        }
    }
    assert!(
        secrets
            .values()
            .any(|s| s.contains_key("DATABASE_URL") && s.contains_key("AMQP_URL"))
    );
}

/// KEDA scales the worker on its lane queues, as the configuration names them.
#[test]
fn keda_scales_the_worker_on_its_lane_queues() {
    let k8s = k8s();
    let containers = k8s.containers();
    let worker = containers
        .iter()
        .find(|c| c.runs("ingest-worker", "run"))
        .expect("a worker container");
    let config = worker.config().expect("worker configuration loads");
    let lanes: BTreeMap<String, Lane> = Lane::ALL
        .into_iter()
        .map(|lane| (format!("{}.{}", config.amqp.queue, lane.as_str()), lane))
        .collect();
    let deployment = worker
        .owner
        .strip_prefix("Deployment/")
        .expect("the worker runs in a Deployment");
    assert!(
        k8s.named("Deployment", deployment)["spec"]["replicas"].is_badvalue(),
        "{deployment}: KEDA owns replicas; a fixed count fights it"
    );
    let scaled = k8s.of_kind("ScaledObject");
    assert_eq!(scaled.len(), 1);
    let so = scaled[0];
    assert_eq!(so["apiVersion"].as_str(), Some("keda.sh/v1alpha1"));
    assert_eq!(
        so["spec"]["scaleTargetRef"]["name"].as_str(),
        Some(deployment)
    );
    assert!(
        so["spec"]["minReplicaCount"]
            .as_i64()
            .is_some_and(|n| n >= 1),
        "keep a worker for interactive misses"
    );
    let secrets = k8s.secrets();
    let mut queues = BTreeSet::new();
    for trigger in list(&so["spec"]["triggers"], "triggers") {
        assert_eq!(trigger["type"].as_str(), Some("rabbitmq"));
        let queue = text(&trigger["metadata"]["queueName"], "queueName");
        let lane = lanes
            .get(queue)
            .unwrap_or_else(|| panic!("{queue} is not a lane queue; they are {:?}", lanes.keys()));
        queues.insert(lane.as_str());
        assert_eq!(trigger["metadata"]["mode"].as_str(), Some("QueueLength"));
        let auth_name = text(&trigger["authenticationRef"]["name"], "authenticationRef");
        let auth = k8s.named("TriggerAuthentication", auth_name);
        let refs = list(&auth["spec"]["secretTargetRef"], "secretTargetRef");
        let host = refs
            .iter()
            .find(|r| r["parameter"].as_str() == Some("host"))
            .expect("the host parameter comes from the secret");
        let value = secrets
            .get(text(&host["name"], "name"))
            .and_then(|s| s.get(text(&host["key"], "key")))
            .expect("the secret and key exist in the base");
        assert_eq!(
            value, &worker.env["AMQP_URL"],
            "KEDA watches the broker the worker consumes"
        );
    }
    assert_eq!(queues, BTreeSet::from(["interactive", "backfill"]));
}

/// (f) docs/configuration.md lists exactly the keys the code has.
#[test]
fn configuration_doc_lists_exactly_the_keys() {
    let md = read(&root().join(DOC));
    let rows = doc_key_rows(&md);
    let doc: BTreeSet<String> = rows.iter().map(|r| r.key.clone()).collect();
    assert_eq!(doc.len(), rows.len(), "{DOC}: a key is listed twice");
    let code: BTreeSet<String> = code_keys().into_keys().collect();
    let (undocumented, unknown) = key_differences(&code, &doc);
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{DOC}: keys missing from the table: {undocumented:?}; keys the code does not have: {unknown:?}"
    );

    // The comparison fails both ways.
    let mut fewer = doc.clone();
    fewer.remove("cache.ttl_secs.label");
    fewer.insert("cache.ttl_secs.work".into());
    let (missing, extra) = key_differences(&code, &fewer);
    assert_eq!(missing, ["cache.ttl_secs.label"]);
    assert_eq!(extra, ["cache.ttl_secs.work"]);
}

/// (f) ... with each key's real type, default and variable.
#[test]
fn configuration_doc_types_defaults_and_variables_are_right() {
    let md = read(&root().join(DOC));
    let defaults = code_keys();
    for row in doc_key_rows(&md) {
        let key = &row.key;
        let Some(value) = defaults.get(key) else {
            continue;
        }; // reported by the test above
        // Type.
        let kind = row.kind.split([' ', ',']).next().unwrap_or_default();
        // An optional key is absent (null) by default, documented as "none".
        let optional = row.kind.contains("optional");
        let type_ok = match kind {
            _ if optional && value.is_null() => row.default.starts_with("none"),
            "integer" => value.is_u64(),
            "boolean" => value.is_boolean(),
            "number" => value.is_f64(),
            "string" => value
                .as_str()
                .is_some_and(|s| s.parse::<SocketAddr>().is_err()),
            "address" => value
                .as_str()
                .is_some_and(|s| s.parse::<SocketAddr>().is_ok()),
            "list" => value.is_array(),
            other => panic!("{key}: unknown type {other:?}"),
        };
        assert!(
            type_ok,
            "{key}: documented as {:?}, the code has {value}",
            row.kind
        );

        // Default: the first `code` of the cell, or "required".
        let url_vars: Vec<&str> = ["DATABASE_URL", "AMQP_URL"]
            .into_iter()
            .filter(|v| row.variables.iter().any(|r| r == v))
            .collect();
        if row.default.contains("required") {
            let mut vars = urls();
            for var in &url_vars {
                vars.remove(*var);
            }
            let Err(e) = Config::load_with_env(None, vars) else {
                panic!("{key} is documented as required, but loads without it");
            };
            // A missing URL leaves its section or its field missing.
            let (section, field) = key.split_once('.').expect("section.field");
            let message = e.to_string();
            assert!(
                message.contains(&format!("\"{section}\"")) || message.contains(field),
                "{key}: {message}"
            );
        } else if optional && value.is_null() {
            // Checked with the type above: documented as "none".
        } else {
            let documented = code_spans(&row.default)
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{key}: the default is not `code`"))
                .replace("<version>", VERSION);
            let actual = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(documented, actual, "{key}: documented default");
        }

        // Variables: MUSICMETA_<SECTION>__<KEY>, plus DATABASE_URL/AMQP_URL
        // for the URLs; each really sets the key.
        let canonical = variable_of(key);
        assert!(
            row.variables.contains(&canonical),
            "{key}: documents {:?}, not {canonical}",
            row.variables
        );
        for var in &row.variables {
            assert!(
                *var == canonical || url_vars.contains(&var.as_str()),
                "{key}: {var} is not its variable"
            );
            let sample = sample_value(value, &row.kind);
            let mut vars = urls();
            for url_var in &url_vars {
                vars.remove(*url_var);
            }
            vars.insert(var.clone(), sample.clone());
            let config = Config::load_with_env(None, vars)
                .unwrap_or_else(|e| panic!("{key}: {var}={sample}: {e}"));
            let set = keys_of(&config)[key].clone();
            let set = match set {
                // A secret (a bearer token) is set but serializes redacted.
                Value::String(s) if s == "***" && row.kind.contains("secret") => sample.clone(),
                Value::String(s) => s,
                // A list is set as comma-separated items.
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            assert_eq!(set, sample, "{var} does not set {key}");
        }
    }
    // A wrong variable name does not set its key (it is rejected).
    assert!(check_variable("MUSICMETA_CACHE__TTL_SECS__RELEASEGROUP", "5").is_err());
}

/// docs/configuration.md lists the other variables the code reads, and
/// only those.
#[test]
fn configuration_doc_lists_the_other_variables() {
    let md = read(&root().join(DOC));
    let documented: BTreeSet<String> = table_rows(section(&md, "Other environment variables"))
        .into_iter()
        .map(|cells| {
            let names = code_spans(&cells[0]);
            assert_eq!(names.len(), 1, "{cells:?}");
            names[0].clone()
        })
        .collect();
    let read_by_code = variables_read_by_code();
    let code: BTreeSet<String> = read_by_code.keys().cloned().collect();
    let (undocumented, unread) = key_differences(&code, &documented);
    assert!(
        undocumented.is_empty() && unread.is_empty(),
        "{DOC}: read by the code but not documented: {undocumented:?} (in {:?}); documented but read nowhere: {unread:?}",
        undocumented
            .iter()
            .map(|v| &read_by_code[v])
            .collect::<Vec<_>>()
    );
    for var in NON_KEY_VARS {
        assert!(documented.contains(var), "{var} is documented");
    }
    for var in ["RUST_LOG", "MUSICMETA_TEST_PG", "MUSICMETA_TEST_AMQP"] {
        assert!(code.contains(var), "the scan finds {var}");
    }
}

/// The labels a selector matches, as `key=value` strings.
fn match_labels(selector: &Yaml) -> BTreeSet<String> {
    selector["matchLabels"]
        .as_hash()
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        scalar(k).unwrap_or_default(),
                        scalar(v).unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Growth: every Deployment has a disruption budget over its own pods;
/// query-api scales on CPU (the autoscaler owns its replica count) and has
/// a headless Service for gRPC clients that balance per call.
#[test]
fn deployments_have_budgets_and_query_api_scales_and_balances() {
    let k8s = k8s();
    let budgets = k8s.of_kind("PodDisruptionBudget");
    for deployment in k8s.of_kind("Deployment") {
        let name = text(&deployment["metadata"]["name"], "name");
        let selector = match_labels(&deployment["spec"]["selector"]);
        assert!(!selector.is_empty(), "{name}: no selector");
        assert!(
            budgets
                .iter()
                .any(|b| match_labels(&b["spec"]["selector"]) == selector),
            "Deployment/{name} has no PodDisruptionBudget over its pods"
        );
    }

    let hpa = k8s.named("HorizontalPodAutoscaler", "query-api");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(text(&target["kind"], "kind"), "Deployment");
    assert_eq!(text(&target["name"], "name"), "query-api");
    let metrics = list_or_empty(&hpa["spec"]["metrics"]);
    assert!(
        metrics
            .iter()
            .any(|m| m["resource"]["name"].as_str() == Some("cpu")),
        "query-api scales on CPU"
    );
    let min: i64 = hpa["spec"]["minReplicas"].as_i64().expect("minReplicas");
    assert!(
        min >= 2,
        "at least two query-apis, for the disruption budget"
    );
    assert!(
        k8s.named("Deployment", "query-api")["spec"]["replicas"].is_badvalue(),
        "the autoscaler owns query-api's replica count"
    );

    let headless = k8s.named("Service", "query-api-pods");
    assert_eq!(headless["spec"]["clusterIP"].as_str(), Some("None"));
    let service = k8s.named("Service", "query-api");
    assert_eq!(
        headless["spec"]["selector"], service["spec"]["selector"],
        "both Services select the query-api pods"
    );
    assert_eq!(headless["spec"]["ports"], service["spec"]["ports"]);
}

/// The documented way to run the engines in a cluster: a three-node
/// RabbitMQ (quorum queues replicate on all three) and a PostgreSQL with a
/// replica, as the operators' custom resources.
#[test]
fn engines_are_a_rabbitmq_cluster_and_postgres_with_a_replica() {
    let rabbit = &yaml_file("deploy/engines/rabbitmq-cluster.yaml")[0];
    assert_eq!(text(&rabbit["kind"], "kind"), "RabbitmqCluster");
    assert_eq!(rabbit["spec"]["replicas"].as_i64(), Some(3));
    let plugins = strings(&rabbit["spec"]["rabbitmq"]["additionalPlugins"], "plugins");
    assert!(plugins.contains(&"rabbitmq_prometheus".to_owned()));
    let postgres = &yaml_file("deploy/engines/postgres-cluster.yaml")[0];
    assert_eq!(text(&postgres["kind"], "kind"), "Cluster");
    assert!(
        postgres["spec"]["instances"].as_i64().unwrap_or(0) >= 2,
        "a replica"
    );
    // The defaults musicmeta ships match the cluster: quorum queues.
    let config = Config::load_with_env(
        Some(&root().join("deploy/config.example.yaml")),
        HashMap::new(),
    )
    .expect("example configuration");
    assert_eq!(
        config.amqp.queue_type,
        musicmeta_shared::config::QueueType::Quorum
    );
}

/// The Grafana dashboard shows what operators watch, from metrics that
/// exist: every `musicmeta_` series it queries is one the programs export.
#[test]
fn the_dashboard_charts_real_metrics() {
    let dashboard: Value = serde_json::from_str(&read(
        &root().join("deploy/grafana/musicmeta-dashboard.json"),
    ))
    .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in [
        "Hit ratio",
        "Miss latency",
        "Queue depth per lane",
        "Upstream requests against the budget",
        "Fills",
        "Dead letters",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(wanted)),
            "no {wanted} panel in {titles:?}"
        );
    }
    use musicmeta_shared::prometheus::names;
    let exported = [
        names::LOOKUPS,
        names::MISS_WAIT,
        names::JOBS_PUBLISHED,
        names::JOBS_CONSUMED,
        names::FILL_FAILURES,
        names::UPSTREAM_REQUESTS,
        names::UPSTREAM_LATENCY,
        names::RATE_LIMIT_WAIT,
        names::DB_POOL,
        names::AMQP_CONNECTED,
        names::OUTBOX_PENDING,
        names::HTTP_REQUESTS,
        names::HOT_TIER,
        names::HOT_TIER_EVICTIONS,
    ];
    let mut queried = 0;
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for (i, _) in expr.match_indices("musicmeta_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name);
                assert!(exported.contains(&base), "{name} is not exported: {expr}");
                queried += 1;
            }
        }
    }
    assert!(queried >= 8, "only {queried} musicmeta series queried");
}
