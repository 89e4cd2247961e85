//! `deploy/docker/Dockerfile` as its stages and instructions: enough to
//! see what the runtime stage installs and runs, without a container engine.

use super::{read, root};

#[derive(Debug)]
pub struct Stage {
    pub name: Option<String>,
    /// (INSTRUCTION, arguments), continuation lines joined.
    pub instructions: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Dockerfile {
    pub stages: Vec<Stage>,
}

pub const DOCKERFILE: &str = "deploy/docker/Dockerfile";

pub fn dockerfile() -> Dockerfile {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in read(&root().join(DOCKERFILE)).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (instruction, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = instruction.to_uppercase();
        let args = args.trim().to_owned();
        if instruction == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                name,
                instructions: vec![(instruction, args)],
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((instruction, args));
        }
    }
    assert!(!stages.is_empty(), "{DOCKERFILE}: no FROM");
    Dockerfile { stages }
}

impl Dockerfile {
    pub fn runtime(&self) -> &Stage {
        self.stages.last().expect("a stage")
    }

    pub fn cmd(&self) -> Vec<String> {
        let (_, args) = self
            .runtime()
            .instructions
            .iter()
            .rev()
            .find(|(i, _)| i == "CMD")
            .expect("the runtime stage has a CMD");
        serde_json::from_str(args).expect("CMD in exec (JSON) form")
    }

    /// Files the runtime stage copies in (destination paths).
    pub fn runtime_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (instruction, args) in &self.runtime().instructions {
            if instruction != "COPY" {
                continue;
            }
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let (dest, sources) = words.split_last().expect("COPY has a destination");
            if dest.ends_with('/') {
                for source in sources {
                    let file = source.rsplit('/').next().unwrap_or(source);
                    out.push(format!("{dest}{file}"));
                }
            } else {
                out.push((*dest).to_owned());
            }
        }
        out
    }
}
