/* A SQLite VFS that wraps the default one and fails writes on command, to prove that storage
 * failures surface as errors and never as success. Register once, then open databases with the
 * URI "file:PATH?vfs=" FAULT_VFS_NAME. */
#ifndef FAULT_VFS_H
#define FAULT_VFS_H

#define FAULT_VFS_NAME "byocd_fault"

enum fault_mode {
    FAULT_NONE,
    FAULT_IOERR, /* xWrite and xSync fail with SQLITE_IOERR_WRITE / SQLITE_IOERR_FSYNC */
    FAULT_FULL,  /* xWrite fails with SQLITE_FULL */
    FAULT_SYNC,  /* only xSync fails, with SQLITE_IOERR_FSYNC (the data was written, not synced) */
};

/* Operations fault_vfs_fail_nth() counts. */
enum fault_op {
    FAULT_OP_WRITE = 1,
    FAULT_OP_SYNC = 2,
};

/* Registers the VFS (idempotent); aborts on failure. */
void fault_vfs_register(void);
void fault_vfs_set(enum fault_mode mode);
/* Writes refused since the last fault_vfs_set. */
long fault_vfs_refused(void);
/* From now on counts the operations in ops (FAULT_OP_* or'ed) and fails only the nth one
 * (1-based): a write with SQLITE_IOERR_WRITE, a sync with SQLITE_IOERR_FSYNC. Replaces the mode
 * set by fault_vfs_set (FAULT_NONE clears both). */
void fault_vfs_fail_nth(unsigned ops, long nth);
/* Operations of the armed kinds counted since fault_vfs_fail_nth. */
long fault_vfs_counted(void);

#endif
