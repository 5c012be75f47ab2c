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
};

/* Registers the VFS (idempotent); aborts on failure. */
void fault_vfs_register(void);
void fault_vfs_set(enum fault_mode mode);
/* Writes refused since the last fault_vfs_set. */
long fault_vfs_refused(void);

#endif
