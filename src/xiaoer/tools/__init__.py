"""LLM-facing tools. Every tool follows these rules:

- identity (shop, shopper) comes from `TurnDeps`, never from the model's arguments;
- every order read checks ownership, and a foreign or unknown order gets the same answer
  (no oracle for other shoppers' order numbers);
- the result is short Chinese text for the model plus structured `data` for events/logs;
- a bad argument returns an `ok=False` result that tells the model what to fix — never raises.
"""
