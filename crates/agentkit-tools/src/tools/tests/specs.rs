//! The wire JSON of every tool's spec, pinned.

use agentkit_core::tool::DynTool;

use crate::tools::*;

fn assert_spec(name: &str, tool: &dyn DynTool) {
    let spec = tool.spec();
    assert_eq!(spec.name, name);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!(format!("spec_{name}"), spec);
    });
}

#[test]
fn read_file_spec() {
    assert_spec("read_file", &ReadFile);
}

#[test]
fn write_file_spec() {
    assert_spec("write_file", &WriteFile);
}

#[test]
fn edit_file_spec() {
    assert_spec("edit_file", &EditFile);
}

#[test]
fn list_files_spec() {
    assert_spec("list_files", &ListFiles);
}

#[test]
fn grep_spec() {
    assert_spec("grep", &Grep);
}

#[test]
fn shell_spec() {
    assert_spec("shell", &Shell);
}

#[test]
fn git_diff_spec() {
    assert_spec("git_diff", &GitDiff);
}

#[test]
fn finish_spec() {
    assert_spec("finish", &Finish);
}

#[test]
fn ask_human_spec() {
    assert_spec("ask_human", &AskHuman);
}

#[test]
fn standard_tools_has_every_tool() {
    assert_eq!(
        standard_tools().names(),
        [
            "ask_human",
            "edit_file",
            "finish",
            "git_diff",
            "grep",
            "list_files",
            "read_file",
            "shell",
            "write_file"
        ]
    );
}

#[cfg(feature = "repo-map")]
mod code_tools {
    use super::assert_spec;
    use crate::context::{CodeIndex, CodeSearch, RepoMap};
    use crate::tools::{FindSymbol, RepoMapTool, SearchCode};

    #[test]
    fn repo_map_spec() {
        assert_spec(
            "repo_map",
            &RepoMapTool::new(RepoMap::new(CodeIndex::new())),
        );
    }

    #[test]
    fn find_symbol_spec() {
        assert_spec("find_symbol", &FindSymbol::new(CodeIndex::new()));
    }

    #[test]
    fn search_code_spec() {
        assert_spec(
            "search_code",
            &SearchCode::new(CodeSearch::new(CodeIndex::new())),
        );
    }
}

#[test]
fn run_tests_spec() {
    assert_spec("run_tests", &RunTests);
}
