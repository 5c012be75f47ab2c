/* Migrations embedded at build time from migrations/NNNN_name.sql (see migrations/embed.py). */
#ifndef BYOC_STORE_MIGRATIONS_H
#define BYOC_STORE_MIGRATIONS_H

struct byoc_migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct byoc_migration byoc_migrations[];
extern const int byoc_migrations_count;

#endif
