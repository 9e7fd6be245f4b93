"""Tasks whose final answer is the last `\\boxed{}` of the response (math, multiplication)."""
