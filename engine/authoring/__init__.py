"""engine/authoring: the informaticist's tools over a knowledge base: lint, rule tests, release
manifests and changelog, and the content and behavioural diff."""
