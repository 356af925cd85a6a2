"""Conversation tests as a product: cases and suites, a runner, reports, record and replay.

``cases`` (what a test says, and its YAML files), ``runner`` (runs cases through the
conversation service), ``results`` (verdicts and transcripts), ``report`` (text, JUnit XML,
JSON), ``replay`` (recorded user turns against the current pathway: which routing
decisions changed), ``routing`` (paraphrase-based accuracy of a node's edges), ``publish``
(the required-suite gate) and ``cli`` (the ``pathweaver test``, ``lint`` and
``routing-check`` commands).
"""
