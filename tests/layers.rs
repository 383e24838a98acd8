//! Imports run one way along the pipeline (README "How it works"): a module may use its own
//! stage and earlier ones, never a later one. The stages are src/'s top-level modules, in this
//! order; `error` is shared by all. Reads the sources as text: `crate::<stage>` paths outside
//! comments.

const STAGES: [&str; 11] = ["problem", "method", "plan", "outcome", "config", "kernel", "backend", "engine", "analysis", "output", "app"];

fn stage_of(module: &str) -> Option<usize> {
    STAGES.iter().position(|s| *s == module)
}

fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Backward uses of `crate::<stage>` in one file of stage `own` (comments skipped).
fn backward_uses(own: usize, text: &str) -> Vec<(usize, String)> {
    let mut wrong = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if stage_of(&name).is_some_and(|used| used > own) {
                wrong.push((n + 1, name));
            }
        }
    }
    wrong
}

#[test]
fn imports_run_one_way() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen_stages = std::collections::BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs").to_string();
        let Some(own) = stage_of(&top) else {
            assert!(["lib", "main", "error"].contains(&top.as_str()), "{}: not in a stage of STAGES; add it there", rel.display());
            continue;
        };
        seen_stages.insert(own);
        for (line, used) in backward_uses(own, &std::fs::read_to_string(file).unwrap()) {
            wrong.push(format!("{}:{line}: {top} uses {used}, a later stage", rel.display()));
        }
    }
    assert_eq!(seen_stages.len(), STAGES.len(), "every stage has sources");
    assert!(wrong.is_empty(), "imports against the pipeline's direction:\n{}", wrong.join("\n"));
}

/// The check itself can fail: a later stage's path in code is caught, in a comment it is not.
#[test]
fn a_backward_import_is_caught() {
    let plan = stage_of("plan").unwrap();
    let text = "use crate::problem::expr::Objective;\n// see crate::analysis::map\nuse crate::analysis::map::MapSpec;\n";
    assert_eq!(backward_uses(plan, text), vec![(3, "analysis".to_string())]);
}
