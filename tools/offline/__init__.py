"""Run the real Pulumi program against Pulumi's in-process mock engine, with no cloud and no CLI.

- `stackfiles`: `Pulumi.yaml` defaults + `Pulumi.<stack>.yaml` -> the config strings the engine passes.
- `mocks`: `OfflineMocks`, deterministic AWS placeholders and real pulumi-tls keys and certificates.
- `capture`: `CapturingMonitor` records every registration into a queryable `Graph`.
- `engine`: `run_program(stack, preview=...)` -> `Graph`, isolated per call.
"""
