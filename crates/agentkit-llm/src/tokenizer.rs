//! Exact token counts with tiktoken.
