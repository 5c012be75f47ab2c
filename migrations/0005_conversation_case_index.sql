-- Agent replies and Studio events may name a conversation by CXone's case id.
CREATE INDEX conversations_by_case ON conversations (provider_id, cxone_case_id);
