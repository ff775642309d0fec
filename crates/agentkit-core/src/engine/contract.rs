//! The engine's side of the completion contract: feedback, then a stop.

use super::{Engine, Phase};
use crate::message::Message;
use crate::outcome::StopReason;
use crate::policy::contract::{Violation, feedback};

impl Engine {
    /// Reports that the change about to be published breaks the completion
    /// contract. The first `rounds` times the model is told what to fix and
    /// the run goes on; after that the run stops with
    /// [`StopReason::ContractViolated`] and nothing is published.
    pub fn on_contract_violation(&mut self, violations: Vec<Violation>, rounds: u32) {
        if !matches!(self.state.phase, Phase::Publishing { .. }) {
            return;
        }
        if self.state.contract_rounds >= rounds {
            self.state.phase = Phase::Done(StopReason::ContractViolated { violations });
            return;
        }
        self.state.contract_rounds += 1;
        let last = self.state.contract_rounds >= rounds;
        self.state
            .messages
            .push(Message::user(feedback(&violations, last)));
        self.state.phase = Phase::Ready;
    }
}
