"""The README's `openai` client example: two users, one question, then a vote by completion ids."""
import httpx
from openai import OpenAI

client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused-on-loopback")
question = [{"role": "user", "content": "How do I start journaling?"}]

for user in ("tim", "wendy"):
    answer = client.chat.completions.create(
        model="edge-drift", messages=question, max_tokens=40, temperature=0,
        extra_headers={"X-Edge-Drift-User": user},  # or user=... in the body (LibreChat does that)
        extra_body={"beta": 0.5})                     # steering knobs: strategy, beta, top_attributes
    print(f"[{user}] {answer.choices[0].message.content!r}")
    print(f"        {answer.usage.completion_tokens} tokens, answered by {answer.model_extra['edge_drift']}")

# Two sampled answers, then a vote by their ids: the server refits tim's profile before the next answer.
a, b = (client.chat.completions.create(model="edge-drift", messages=question, max_tokens=30, seed=seed,
                                       temperature=1.0, extra_headers={"X-Edge-Drift-User": "tim"})
        for seed in (1, 2))
vote = httpx.post("http://127.0.0.1:8000/v1/feedback",
                  json={"user": "tim", "a": a.id, "b": b.id, "winner": "a"}).json()
print("vote:", {k: vote[k] for k in ("fitted", "n_pairs", "moved")})
