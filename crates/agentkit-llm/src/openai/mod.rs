//! OpenAI's two wire formats: Chat Completions (also spoken by vLLM, Ollama,
//! llama.cpp, OpenRouter, LM Studio) and the Responses API.

pub mod chat;
pub mod responses;
