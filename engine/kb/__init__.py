"""engine/kb: the knowledge base as data: its records (model), reading and checking the files
(reader, reading, schemas, citations, conditions, stages, identity), loading (knowledge_base), the
checked-KB cache and which root a command uses."""
