"""ctad.knowledge: analyst verdicts (SQLite for the CLI, KV store in Splunk) reused by triage and retraining."""

from ctad.knowledge.store import FEEDBACK_VERDICTS, KnowledgeBase, KVKnowledgeBase, export_labels

__all__ = ["FEEDBACK_VERDICTS", "KnowledgeBase", "KVKnowledgeBase", "export_labels"]
