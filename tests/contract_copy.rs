//! The repository keeps its own copy of the contract (`docs/PROTOCOL.md`,
//! `docs/API.md`, `docs/vectors/`) so that it stands alone on a user's
//! clone. When `../shared/` exists beside it and differs, this test fails:
//! the contract has grown and the copy must be refreshed.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn copy_matches_shared() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared");
    if !shared.join("PROTOCOL.md").exists() {
        eprintln!("no ../shared beside the repository: nothing to compare");
        return;
    }
    let refresh = "refresh the copy: cp ../shared/{PROTOCOL,API}.md docs/ && cp ../shared/vectors/* docs/vectors/";
    for doc in ["PROTOCOL.md", "API.md"] {
        let theirs = fs::read(shared.join(doc)).expect("shared doc");
        let ours = fs::read(root.join("docs").join(doc)).expect("docs copy");
        assert!(
            theirs == ours,
            "docs/{doc} differs from ../shared/{doc}; {refresh}"
        );
    }
    let shared_vectors = shared.join("vectors");
    let our_vectors = root.join("docs/vectors");
    assert_eq!(
        names(&shared_vectors),
        names(&our_vectors),
        "vector files differ; {refresh}"
    );
    for name in names(&shared_vectors) {
        let theirs = fs::read(shared_vectors.join(&name)).expect("shared vector");
        let ours = fs::read(our_vectors.join(&name)).expect("our vector");
        assert!(
            theirs == ours,
            "docs/vectors/{name} differs from ../shared; {refresh}"
        );
    }
}
