/* Statements of the relay (sqlite_relay.c), part of the backend's one statement table. */
#ifndef BYOC_SQLITE_RELAY_STMTS_H
#define BYOC_SQLITE_RELAY_STMTS_H

#define RELAY_STMT_MAP(X)

#endif
