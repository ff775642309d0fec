//! What happens to a pull request after publishing: merging, closing,
//! review rounds. These are the forge's side of the metrics (merged-PR rate,
//! time to merge, review rounds).

use agentkit_core::event::now_ms;
use agentkit_core::forge::{ForgeError, PullRequest, PullRequestState};

use super::{LocalForge, blocking, store};

/// Who merge commits are made by.
const MERGER: [&str; 4] = [
    "-c",
    "user.name=agentkit local forge",
    "-c",
    "user.email=forge@agentkit.invalid",
];

impl LocalForge {
    /// Merges open pull request `id` into its target branch in the origin: a
    /// fast-forward when the target has not moved, else a merge commit made
    /// without a work tree (`git merge-tree --write-tree`, `commit-tree`).
    /// The target ref is updated only if it still points where it did
    /// (`update-ref` with the old value). Refused when the pull request is
    /// not open, when the branches conflict, and when the origin has a work
    /// tree with the target branch checked out (moving it would leave that
    /// work tree out of step; merge there with git instead, then call
    /// [`close`](Self::close) or leave it).
    pub async fn merge(&self, id: &str) -> Result<PullRequest, ForgeError> {
        let _locks = self.exclusive().await?;
        let pr = self.open_pull(id).await?;
        if !self.git.is_bare().await?
            && self.git.head_branch().await.as_ref() == Some(&pr.base_branch)
        {
            return Err(ForgeError::Refused {
                reason: format!(
                    "`{}` is checked out in the origin's work tree `{}`; merging would move it \
                     under the work tree. Merge with git there instead",
                    pr.base_branch,
                    self.origin.display()
                ),
            });
        }
        let missing = |branch: &str| ForgeError::NotFound {
            what: format!("branch `{branch}` of pull request #{} in the origin", pr.id),
        };
        let base = self
            .git
            .branch_tip(&pr.base_branch)
            .await?
            .ok_or_else(|| missing(&pr.base_branch))?;
        let head = self
            .git
            .branch_tip(&pr.branch)
            .await?
            .ok_or_else(|| missing(&pr.branch))?;
        let merged = if self.git.is_ancestor(&base, &head).await? {
            head.clone()
        } else {
            let tree = self
                .git
                .run(
                    "merge-tree",
                    ["merge-tree", "--write-tree", "--no-messages", &base, &head],
                )
                .await
                .map_err(|err| ForgeError::Refused {
                    reason: format!(
                        "pull request #{} conflicts with `{}`; nothing was merged ({err})",
                        pr.id, pr.base_branch
                    ),
                })?;
            let tree = tree.lines().next().unwrap_or("").trim().to_string();
            let message = format!(
                "Merge pull request #{} from {}\n\n{}",
                pr.id, pr.branch, pr.title
            );
            let mut args: Vec<&str> = MERGER.to_vec();
            args.extend([
                "commit-tree",
                &tree,
                "-p",
                &base,
                "-p",
                &head,
                "-m",
                &message,
            ]);
            self.git.run("commit-tree", args).await?.trim().to_string()
        };
        let target = format!("refs/heads/{}", pr.base_branch);
        self.git
            .run("update-ref", ["update-ref", &target, &merged, &base])
            .await?;
        let now = now_ms();
        self.save(PullRequest {
            state: PullRequestState::Merged,
            merged_at_ms: Some(now),
            updated_at_ms: now,
            ..pr
        })
        .await
    }

    /// Closes open pull request `id` without merging (its branch stays).
    pub async fn close(&self, id: &str) -> Result<PullRequest, ForgeError> {
        let _locks = self.exclusive().await?;
        let pr = self.open_pull(id).await?;
        self.save(PullRequest {
            state: PullRequestState::Closed,
            updated_at_ms: now_ms(),
            ..pr
        })
        .await
    }

    /// Records that a reviewer asked for changes on open pull request `id`
    /// (one more review round).
    pub async fn request_changes(&self, id: &str) -> Result<PullRequest, ForgeError> {
        let _locks = self.exclusive().await?;
        let pr = self.open_pull(id).await?;
        self.save(PullRequest {
            review_rounds: pr.review_rounds.saturating_add(1),
            updated_at_ms: now_ms(),
            ..pr
        })
        .await
    }

    async fn open_pull(&self, id: &str) -> Result<PullRequest, ForgeError> {
        use agentkit_core::forge::Forge;
        let pr = self.pull_request(id).await?;
        if pr.state != PullRequestState::Open {
            return Err(ForgeError::Refused {
                reason: format!("pull request #{} is {:?}, not open", pr.id, pr.state),
            });
        }
        Ok(pr)
    }

    async fn save(&self, pr: PullRequest) -> Result<PullRequest, ForgeError> {
        let state_dir = self.state_dir.clone();
        blocking(move || store::write_pull(&state_dir, &pr).map(|()| pr)).await
    }
}
