//! `MemoryRunLog` against the shared `RunLog` conformance suite.

use agentkit_server::runlog::MemoryRunLog;
use agentkit_server::runlog::conformance::LogUnderTest;

async fn fresh() -> Option<LogUnderTest> {
    Some(LogUnderTest::new(MemoryRunLog::new()))
}

agentkit_server::run_log_conformance!(fresh);
