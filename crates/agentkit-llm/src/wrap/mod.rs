//! Models around models: each is itself a [`Model`](agentkit_core::model::Model).
