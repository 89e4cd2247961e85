//! The Kubernetes base `deploy/k8s`: the resources its kustomization.yaml
//! lists, its generated ConfigMaps, and the containers of its workloads
//! (secret references and ConfigMap mounts resolved) as [`Container`]s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_rust2::Yaml;

use super::containers::{ConfigFile, Container, Mount, parse_invocation, resolve_config};
use super::dockerfile::dockerfile;
use super::root;
use super::yaml::{entries, list_or_empty, scalar, strings, text, yaml_file};

pub const K8S: &str = "deploy/k8s";

#[derive(Debug)]
pub struct K8s {
    pub kustomization: Yaml,
    /// (file, object) of every resource listed in kustomization.yaml.
    objects: Vec<(String, Yaml)>,
    /// configMapGenerator entries: name → key → file.
    pub generated: HashMap<String, HashMap<String, PathBuf>>,
}

pub fn k8s() -> K8s {
    let docs = yaml_file(&format!("{K8S}/kustomization.yaml"));
    assert_eq!(docs.len(), 1, "kustomization.yaml: one document");
    let kustomization = docs.into_iter().next().expect("one document");
    let mut objects = Vec::new();
    for resource in strings(&kustomization["resources"], "resources") {
        let path = root().join(K8S).join(&resource);
        assert!(
            path.is_file(),
            "kustomization.yaml lists {resource}, which is no file here"
        );
        for doc in yaml_file(&format!("{K8S}/{resource}")) {
            objects.push((resource.clone(), doc));
        }
    }
    let mut generated = HashMap::new();
    for generator in list_or_empty(&kustomization["configMapGenerator"]) {
        let name = text(&generator["name"], "configMapGenerator name").to_owned();
        let mut files = HashMap::new();
        for file in strings(&generator["files"], "configMapGenerator files") {
            let (key, path) = match file.split_once('=') {
                Some((k, p)) => (k.to_owned(), p.to_owned()),
                None => (
                    Path::new(&file)
                        .file_name()
                        .and_then(|n| n.to_str())
                        .expect("file name")
                        .to_owned(),
                    file.clone(),
                ),
            };
            let path = root().join(K8S).join(path);
            assert!(
                path.is_file(),
                "configMapGenerator {name}: no file {}",
                path.display()
            );
            files.insert(key, path);
        }
        generated.insert(name, files);
    }
    K8s {
        kustomization,
        objects,
        generated,
    }
}

impl K8s {
    pub fn of_kind(&self, kind: &str) -> Vec<&Yaml> {
        self.objects
            .iter()
            .filter(|(_, o)| o["kind"].as_str() == Some(kind))
            .map(|(_, o)| o)
            .collect()
    }

    pub fn named(&self, kind: &str, name: &str) -> &Yaml {
        self.of_kind(kind)
            .into_iter()
            .find(|o| o["metadata"]["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("{K8S}: no {kind} named {name}"))
    }

    /// Secret name → key → value (from `stringData`).
    pub fn secrets(&self) -> HashMap<String, HashMap<String, String>> {
        self.of_kind("Secret")
            .into_iter()
            .map(|s| {
                let name = text(&s["metadata"]["name"], "Secret name").to_owned();
                assert!(
                    s["data"].is_badvalue(),
                    "Secret {name}: use stringData (placeholders an operator can read)"
                );
                let data = entries(&s["stringData"], &name)
                    .into_iter()
                    .map(|(k, v)| (k, scalar(v).expect("string value")))
                    .collect();
                (name, data)
            })
            .collect()
    }

    /// ConfigMap name → key → file, generated or embedded.
    pub fn config_maps(&self) -> HashMap<String, HashMap<String, ConfigFile>> {
        let mut maps: HashMap<String, HashMap<String, ConfigFile>> = self
            .generated
            .iter()
            .map(|(name, files)| {
                let files = files
                    .iter()
                    .map(|(k, p)| (k.clone(), ConfigFile::Path(p.clone())))
                    .collect();
                (name.clone(), files)
            })
            .collect();
        for cm in self.of_kind("ConfigMap") {
            let name = text(&cm["metadata"]["name"], "ConfigMap name").to_owned();
            let files = entries(&cm["data"], &name)
                .into_iter()
                .map(|(k, v)| (k, ConfigFile::Text(scalar(v).expect("string value"))))
                .collect();
            maps.insert(name, files);
        }
        maps
    }

    /// (object, pod spec) of every workload.
    pub fn pod_specs(&self) -> Vec<(&Yaml, &Yaml)> {
        let mut out = Vec::new();
        for (_, object) in &self.objects {
            let spec = match object["kind"].as_str() {
                Some("Deployment" | "StatefulSet" | "DaemonSet" | "Job") => {
                    &object["spec"]["template"]["spec"]
                }
                Some("CronJob") => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => continue,
            };
            out.push((object, spec));
        }
        out
    }

    pub fn containers(&self) -> Vec<Container> {
        let secrets = self.secrets();
        let config_maps = self.config_maps();
        let mut out = Vec::new();
        for (object, pod) in self.pod_specs() {
            let kind = text(&object["kind"], "kind");
            let name = text(&object["metadata"]["name"], "name");
            let volumes: HashMap<String, &Yaml> = list_or_empty(&pod["volumes"])
                .iter()
                .map(|v| (text(&v["name"], "volume name").to_owned(), v))
                .collect();
            let all = list_or_empty(&pod["initContainers"])
                .iter()
                .chain(list_or_empty(&pod["containers"]));
            for c in all {
                let container_name = text(&c["name"], "name").to_owned();
                let what = format!("{K8S} {kind}/{name} container {container_name}");
                let image = text(&c["image"], &what).to_owned();
                let mut argv = strings(&c["command"], &what);
                argv.extend(strings(&c["args"], &what));
                if argv.is_empty() {
                    argv = dockerfile().cmd();
                }
                assert!(
                    c["envFrom"].is_badvalue(),
                    "{what}: envFrom is not checked here; name each variable"
                );
                let mut env = HashMap::new();
                for var in list_or_empty(&c["env"]) {
                    let var_name = text(&var["name"], &what).to_owned();
                    let value = if !var["value"].is_badvalue() {
                        // Kubernetes accepts only strings here.
                        text(&var["value"], &format!("{what} env {var_name}")).to_owned()
                    } else if !var["valueFrom"]["secretKeyRef"].is_badvalue() {
                        let r = &var["valueFrom"]["secretKeyRef"];
                        let (secret, key) = (text(&r["name"], &what), text(&r["key"], &what));
                        match secrets.get(secret).and_then(|s| s.get(key)) {
                            Some(value) => value.clone(),
                            // An optional key the base leaves out: the variable is unset.
                            None if r["optional"].as_bool() == Some(true) => continue,
                            None => panic!(
                                "{what}: {var_name} refers to {secret}/{key}, which the base does not define"
                            ),
                        }
                    } else {
                        panic!("{what}: {var_name}: only value and secretKeyRef are checked here");
                    };
                    env.insert(var_name, value);
                }
                let mut mounts = Vec::new();
                for m in list_or_empty(&c["volumeMounts"]) {
                    assert!(
                        m["subPath"].is_badvalue(),
                        "{what}: subPath mounts are not checked here"
                    );
                    let volume_name = text(&m["name"], &what);
                    let volume = volumes
                        .get(volume_name)
                        .unwrap_or_else(|| panic!("{what}: mounts undefined volume {volume_name}"));
                    if volume["configMap"].is_badvalue() {
                        continue;
                    }
                    assert!(
                        volume["configMap"]["items"].is_badvalue(),
                        "{what}: configMap items are not checked here"
                    );
                    let cm = text(&volume["configMap"]["name"], &what);
                    mounts.push(Mount::ConfigMap {
                        target: text(&m["mountPath"], &what)
                            .trim_end_matches('/')
                            .to_owned(),
                        files: config_maps
                            .get(cm)
                            .unwrap_or_else(|| panic!("{what}: no ConfigMap {cm} in the base"))
                            .clone(),
                        read_only: m["readOnly"].as_bool() == Some(true),
                    });
                }
                let invocation = parse_invocation(&argv, &what);
                let (config_file, temp) = resolve_config(&invocation, &env, &mounts, &what);
                out.push(Container {
                    origin: what,
                    owner: format!("{kind}/{name}"),
                    name: container_name,
                    image,
                    argv,
                    invocation,
                    env,
                    config_file,
                    _temp: temp,
                });
            }
        }
        out
    }
}
