/*
 * byoc/store.h on SQLite: records (providers, channels, agent messages, action sessions),
 * group commit under concurrent submitters, durability across reopen, schema versioning, and
 * storage failures injected through a fault VFS registered by this test.
 *
 * Most tests use a fresh ":memory:" store. Tests that need a second connection, a reopen or the
 * fault VFS use a database file in a fresh temporary directory.
 */
#include "byoc/store.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byoc/provider.h"
#include "byoc/banned.h"

#define NOW_MS 1700000000000LL
#define RAW "{\"text\":\"hello world!!\"}"
#define FAULT_VFS "byoc_faulty"

static struct byoc_store *store;
static struct byoc_keys keys;
static struct byoc_provider prov; /* created by given_provider(), released in teardown */
static char dir[64];              /* temporary directory of file tests, "" otherwise */
static char db_path[256];

/* ------------------------------------------------------------------------------------------ */
/* Fault-injecting VFS: wraps the default VFS; while fault_rc is non-zero, xWrite and xSync of  */
/* every file fail with it.                                                                    */

static sqlite3_vfs faulty_vfs;
static sqlite3_vfs *real_vfs;
static atomic_int fault_rc;

struct faulty_file {
    sqlite3_file base;
    sqlite3_file *real; /* lives right behind this struct (szOsFile covers both) */
};

#define REAL(f) (((struct faulty_file *)(f))->real)

static int ff_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int ff_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int ff_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    int rc = atomic_load(&fault_rc);
    return rc ? rc : REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int ff_sync(sqlite3_file *f, int flags)
{
    int rc = atomic_load(&fault_rc);
    return rc ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int ff_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int ff_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int ff_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int ff_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int ff_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int ff_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int ff_device_chars(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int ff_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int ff_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void ff_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int ff_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int ff_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, amt, pp);
}

static int ff_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods ff_methods = {
    3,
    ff_close,
    ff_read,
    ff_write,
    ff_truncate,
    ff_sync,
    ff_file_size,
    ff_lock,
    ff_unlock,
    ff_check_reserved,
    ff_file_control,
    ff_sector_size,
    ff_device_chars,
    ff_shm_map,
    ff_shm_lock,
    ff_shm_barrier,
    ff_shm_unmap,
    ff_fetch,
    ff_unfetch,
};

static int ff_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    struct faulty_file *ff = (struct faulty_file *)file;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    ff->base.pMethods = (rc == SQLITE_OK && ff->real->pMethods) ? &ff_methods : NULL;
    return rc;
}

static void faulty_vfs_register(void)
{
    if (sqlite3_vfs_find(FAULT_VFS))
        return;
    real_vfs = sqlite3_vfs_find(NULL);
    ck_assert_ptr_nonnull(real_vfs);
    faulty_vfs = *real_vfs;
    faulty_vfs.zName = FAULT_VFS;
    faulty_vfs.szOsFile = (int)sizeof(struct faulty_file) + real_vfs->szOsFile;
    faulty_vfs.xOpen = ff_open;
    faulty_vfs.pNext = NULL;
    ck_assert_int_eq(sqlite3_vfs_register(&faulty_vfs, 0), SQLITE_OK);
}

/* ------------------------------------------------------------------------------------------ */
/* Fixtures                                                                                    */

static void keys_fill(void)
{
    for (size_t i = 0; i < BYOC_KEY_LEN; i++) {
        keys.seal[i] = (uint8_t)(0x10 + i);
        keys.jwt[i] = (uint8_t)(0x80 + i);
    }
}

static void setup_memory(void)
{
    keys_fill();
    memset(&prov, 0, sizeof prov);
    dir[0] = '\0';
    store = NULL;
    char why[256] = "";
    ck_assert_msg(byoc_store_open(":memory:", &store, why, sizeof why) == BYOC_ERR_OK, "%s", why);
}

static void setup_dir(void)
{
    keys_fill();
    memset(&prov, 0, sizeof prov);
    store = NULL;
    atomic_store(&fault_rc, 0);
    snprintf(dir, sizeof dir, "/tmp/byoc-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db_path, sizeof db_path, "%s/byocd.db", dir);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static void teardown(void)
{
    atomic_store(&fault_rc, 0);
    byoc_store_close(store);
    store = NULL;
    byoc_provider_release(&prov);
    if (dir[0])
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void open_path(const char *path)
{
    char why[256] = "";
    ck_assert_msg(byoc_store_open(path, &store, why, sizeof why) == BYOC_ERR_OK, "%s", why);
}

static void reopen(void)
{
    byoc_store_close(store);
    store = NULL;
    open_path(db_path);
}

/* ------------------------------------------------------------------------------------------ */
/* Record builders                                                                             */

static void provider_make(struct byoc_provider *p, const char *integration_id, int64_t now)
{
    struct byoc_provider_input in = {
        .name = "Acme Support",
        .webhook_url = "https://bot.example.com/hook",
        .auth_url = "https://cxone.example.com/auth/token",
        .api_base_url = "https://api.example.com/",
        .client_id = "cx-client",
        .client_secret = "cx-client-secret",
        .access_key_id = "ak-id",
        .access_key_secret = "ak-secret",
        .integration_id = integration_id,
    };
    struct byoc_provider_secrets sec;
    ck_assert_int_eq(byoc_provider_build(&keys, &in, now, p, &sec), BYOC_ERR_OK);
    byoc_provider_secrets_wipe(&sec);
}

static enum byoc_err provider_create(const struct byoc_provider *p)
{
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_CREATE, .in.provider = p};
    return byoc_store_write(store, &w);
}

static enum byoc_err provider_delete(const char *id)
{
    struct byoc_write w = {.kind = BYOC_WRITE_PROVIDER_DELETE, .in.provider_id = id};
    return byoc_store_write(store, &w);
}

static void given_provider(const char *integration_id)
{
    provider_make(&prov, integration_id, NOW_MS);
    ck_assert_int_eq(provider_create(&prov), BYOC_ERR_OK);
}

static struct byoc_channel channel_of(const char *provider_id, const char *channel_id,
                                      const char *name, const char *brand, int64_t at)
{
    struct byoc_channel c = {.channel_id = (char *)channel_id,
                             .name = (char *)name,
                             .brand_id = (char *)brand,
                             .source = brand ? BYOC_CHANNEL_ACTION : BYOC_CHANNEL_ADMIN,
                             .created_at = at,
                             .updated_at = at};
    snprintf(c.provider_id, sizeof c.provider_id, "%s", provider_id);
    return c;
}

static enum byoc_err channel_upsert(const struct byoc_channel *c, const char *integration_id)
{
    struct byoc_write w = {.kind = BYOC_WRITE_CHANNEL_UPSERT};
    w.in.channel_upsert.channel = c;
    w.in.channel_upsert.integration_id = integration_id;
    return byoc_store_write(store, &w);
}

static enum byoc_err channel_delete(const char *provider_id, const char *channel_id)
{
    struct byoc_write w = {.kind = BYOC_WRITE_CHANNEL_DELETE};
    w.in.channel_delete.provider_id = provider_id;
    w.in.channel_delete.channel_id = channel_id;
    return byoc_store_write(store, &w);
}

/* A message pointing at caller-owned strings (never released). */
static void msg_fill(struct byoc_agent_msg *m, const char *provider_id, const char *id,
                     const char *dedupe, const char *thread)
{
    *m = (struct byoc_agent_msg){.kind = BYOC_AGENT_MSG_REPLY,
                                 .dedupe_key = (char *)dedupe,
                                 .thread_ref = (char *)thread,
                                 .text = (char *)"hello",
                                 .attachments_json = (char *)"[]",
                                 .raw_body = (char *)RAW,
                                 .raw_len = sizeof RAW - 1,
                                 .received_at = NOW_MS};
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->provider_id, sizeof m->provider_id, "%s", provider_id);
}

static enum byoc_err msg_add(const struct byoc_agent_msg *m, struct byoc_write *w)
{
    *w = (struct byoc_write){.kind = BYOC_WRITE_AGENT_MSG_ADD, .in.agent_msg = m};
    return byoc_store_write(store, w);
}

static size_t msg_count(const char *provider_id, bool unmatched_only)
{
    struct byoc_agent_msg *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(
        byoc_store_agent_msg_list(store, provider_id, unmatched_only, 0, 100000, &list, &n),
        BYOC_ERR_OK);
    byoc_agent_msg_list_free(list, n);
    return n;
}

static void session_fill(struct byoc_action_session *a, const char *secret, const char *provider_id,
                         int64_t expires_at)
{
    *a = (struct byoc_action_session){.action = (char *)"add",
                                      .brand_id = (char *)"brand-1",
                                      .user_id = (char *)"user-1",
                                      .back_url = (char *)"https://cxone.example.com/back",
                                      .access_token_sealed = {(uint8_t *)"sealed-token", 12},
                                      .expires_at = expires_at};
    byoc_sha256(secret, strlen(secret), a->id_hash);
    snprintf(a->provider_id, sizeof a->provider_id, "%s", provider_id);
}

static enum byoc_err session_put(const struct byoc_action_session *a)
{
    struct byoc_write w = {.kind = BYOC_WRITE_ACTION_SESSION_PUT, .in.session = a};
    return byoc_store_write(store, &w);
}

static enum byoc_err session_take(const uint8_t *hash)
{
    struct byoc_write w = {.kind = BYOC_WRITE_ACTION_SESSION_TAKE, .in.session_id_hash = hash};
    return byoc_store_write(store, &w);
}

static enum byoc_err session_get(const uint8_t *hash, int64_t now)
{
    struct byoc_action_session got;
    enum byoc_err e = byoc_store_action_session_get(store, hash, now, &got);
    if (!e)
        byoc_action_session_release(&got);
    return e;
}

/* ---- async completion counting ---- */

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int done_count;

static void count_done(struct byoc_write *w)
{
    (void)w;
    pthread_mutex_lock(&done_mu);
    done_count++;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&done_mu);
}

/* True once want completions were counted, false after timeout_s. */
static bool wait_done(int want, int timeout_s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    int rc = 0;
    pthread_mutex_lock(&done_mu);
    while (done_count < want && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&done_cv, &done_mu, &deadline);
    bool ok = done_count >= want;
    pthread_mutex_unlock(&done_mu);
    return ok;
}

static void submit_counted(struct byoc_write *w)
{
    w->done = count_done;
    ck_assert_int_eq(byoc_store_submit(store, w), BYOC_ERR_OK);
}

/* ------------------------------------------------------------------------------------------ */
/* Providers                                                                                   */

START_TEST(provider_create_and_get_round_trip)
{
    given_provider(NULL);
    struct byoc_provider got;
    ck_assert_int_eq(byoc_store_provider_get(store, prov.id, &got), BYOC_ERR_OK);
    ck_assert_str_eq(got.id, prov.id);
    ck_assert_str_eq(got.name, "Acme Support");
    ck_assert_str_eq(got.webhook_url, "https://bot.example.com/hook");
    ck_assert_str_eq(got.cxone_auth_url, "https://cxone.example.com/auth/token");
    ck_assert_str_eq(got.cxone_api_base_url, "https://api.example.com");
    ck_assert_str_eq(got.cxone_client_id, "cx-client");
    ck_assert_str_eq(got.cxone_access_key_id, "ak-id");
    ck_assert_ptr_null(got.cxone_integration_id);
    ck_assert_str_eq(got.byoc_client_id, prov.byoc_client_id);
    ck_assert_mem_eq(got.byoc_client_secret_hash, prov.byoc_client_secret_hash, BYOC_SHA256_LEN);
    ck_assert_mem_eq(got.bot_api_key_hash, prov.bot_api_key_hash, BYOC_SHA256_LEN);
    ck_assert_mem_eq(got.studio_secret_hash, prov.studio_secret_hash, BYOC_SHA256_LEN);
    ck_assert_int_eq(got.created_at, NOW_MS);
    ck_assert_int_eq(got.updated_at, NOW_MS);
    char *secret = NULL;
    ck_assert_int_eq(byoc_unseal_field(&keys, got.id, BYOC_SEALED_CXONE_CLIENT_SECRET,
                                       &got.cxone_client_secret_sealed, &secret),
                     BYOC_ERR_OK);
    ck_assert_str_eq(secret, "cx-client-secret");
    free(secret);
    ck_assert_int_eq(byoc_unseal_field(&keys, got.id, BYOC_SEALED_ACCESS_KEY_SECRET,
                                       &got.cxone_access_key_secret_sealed, &secret),
                     BYOC_ERR_OK);
    ck_assert_str_eq(secret, "ak-secret");
    free(secret);
    byoc_provider_release(&got);
}
END_TEST

START_TEST(provider_get_missing)
{
    struct byoc_provider got;
    ck_assert_int_eq(byoc_store_provider_get(store, "prv_nope", &got), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(provider_list_ordered_by_creation)
{
    struct byoc_provider p[3];
    static const int64_t at[3] = {3000, 1000, 2000};
    for (int i = 0; i < 3; i++) {
        provider_make(&p[i], NULL, at[i]);
        ck_assert_int_eq(provider_create(&p[i]), BYOC_ERR_OK);
    }
    struct byoc_provider *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_provider_list(store, &list, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].id, p[1].id);
    ck_assert_str_eq(list[1].id, p[2].id);
    ck_assert_str_eq(list[2].id, p[0].id);
    byoc_provider_list_free(list, n);
    for (int i = 0; i < 3; i++)
        byoc_provider_release(&p[i]);
}
END_TEST

START_TEST(provider_list_empty)
{
    struct byoc_provider *list = NULL;
    size_t n = 99;
    ck_assert_int_eq(byoc_store_provider_list(store, &list, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 0);
    byoc_provider_list_free(list, n);
}
END_TEST

START_TEST(provider_duplicate_id_or_client_id_conflicts)
{
    given_provider(NULL);
    ck_assert_int_eq(provider_create(&prov), BYOC_ERR_CONFLICT);
    struct byoc_provider same_client = prov; /* shares prov's strings: never released */
    snprintf(same_client.id, sizeof same_client.id, "prv_other");
    ck_assert_int_eq(provider_create(&same_client), BYOC_ERR_CONFLICT);
    struct byoc_provider *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_provider_list(store, &list, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    byoc_provider_list_free(list, n);
}
END_TEST

START_TEST(provider_delete_and_missing)
{
    given_provider(NULL);
    ck_assert_int_eq(provider_delete(prov.id), BYOC_ERR_OK);
    struct byoc_provider got;
    ck_assert_int_eq(byoc_store_provider_get(store, prov.id, &got), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(provider_delete(prov.id), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(provider_delete("prv_never"), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(provider_delete_cascades)
{
    given_provider(NULL);
    struct byoc_channel c = channel_of(prov.id, "ch-1", "Chat", NULL, 1000);
    ck_assert_int_eq(channel_upsert(&c, NULL), BYOC_ERR_OK);
    struct byoc_agent_msg m;
    struct byoc_write w;
    msg_fill(&m, prov.id, "msg_1", "cxone:1", NULL);
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_OK);
    struct byoc_action_session a;
    session_fill(&a, "sess", prov.id, NOW_MS + 60000);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_OK);

    ck_assert_int_eq(provider_delete(prov.id), BYOC_ERR_OK);
    struct byoc_channel *list = NULL;
    size_t n = 9;
    ck_assert_int_eq(byoc_store_channel_list(store, prov.id, &list, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 0);
    byoc_channel_list_free(list, n);
    ck_assert_uint_eq(msg_count(prov.id, false), 0);
    ck_assert_int_eq(session_get(a.id_hash, NOW_MS), BYOC_ERR_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Channels                                                                                    */

START_TEST(channel_insert_then_update_keeps_created_at)
{
    given_provider(NULL);
    struct byoc_channel c = channel_of(prov.id, "ch-1", "One", "brand-1", 1000);
    ck_assert_int_eq(channel_upsert(&c, NULL), BYOC_ERR_OK);
    struct byoc_channel got;
    ck_assert_int_eq(byoc_store_channel_get(store, prov.id, "ch-1", &got), BYOC_ERR_OK);
    ck_assert_str_eq(got.name, "One");
    ck_assert_pstr_eq(got.brand_id, "brand-1");
    ck_assert_int_eq(got.source, BYOC_CHANNEL_ACTION);
    ck_assert_int_eq(got.created_at, 1000);
    ck_assert_int_eq(got.updated_at, 1000);
    byoc_channel_release(&got);

    struct byoc_channel upd = channel_of(prov.id, "ch-1", "Two", NULL, 2000);
    ck_assert_int_eq(channel_upsert(&upd, NULL), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_store_channel_get(store, prov.id, "ch-1", &got), BYOC_ERR_OK);
    ck_assert_str_eq(got.name, "Two");
    ck_assert_pstr_eq(got.brand_id, "brand-1"); /* a NULL brand keeps the known one */
    ck_assert_int_eq(got.source, BYOC_CHANNEL_ADMIN);
    ck_assert_int_eq(got.created_at, 1000);
    ck_assert_int_eq(got.updated_at, 2000);
    byoc_channel_release(&got);
}
END_TEST

START_TEST(channel_list_and_get_missing)
{
    given_provider(NULL);
    struct byoc_channel a = channel_of(prov.id, "ch-b", "B", NULL, 2000);
    struct byoc_channel b = channel_of(prov.id, "ch-a", "A", NULL, 1000);
    ck_assert_int_eq(channel_upsert(&a, NULL), BYOC_ERR_OK);
    ck_assert_int_eq(channel_upsert(&b, NULL), BYOC_ERR_OK);
    struct byoc_channel *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_channel_list(store, prov.id, &list, &n), BYOC_ERR_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].channel_id, "ch-a");
    ck_assert_str_eq(list[1].channel_id, "ch-b");
    byoc_channel_list_free(list, n);
    struct byoc_channel got;
    ck_assert_int_eq(byoc_store_channel_get(store, prov.id, "ch-zz", &got), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(byoc_store_channel_get(store, "prv_other", "ch-a", &got), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(channel_for_unknown_provider_not_found)
{
    struct byoc_channel c = channel_of("prv_missing", "ch-1", "X", NULL, 1000);
    ck_assert_int_eq(channel_upsert(&c, NULL), BYOC_ERR_NOT_FOUND);
    struct byoc_channel got;
    ck_assert_int_eq(byoc_store_channel_get(store, "prv_missing", "ch-1", &got),
                     BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(channel_delete_and_missing)
{
    given_provider(NULL);
    struct byoc_channel c = channel_of(prov.id, "ch-1", "X", NULL, 1000);
    ck_assert_int_eq(channel_upsert(&c, NULL), BYOC_ERR_OK);
    ck_assert_int_eq(channel_delete(prov.id, "ch-1"), BYOC_ERR_OK);
    struct byoc_channel got;
    ck_assert_int_eq(byoc_store_channel_get(store, prov.id, "ch-1", &got), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(channel_delete(prov.id, "ch-1"), BYOC_ERR_NOT_FOUND);
}
END_TEST

static char *integration_of(const char *provider_id)
{
    struct byoc_provider got;
    ck_assert_int_eq(byoc_store_provider_get(store, provider_id, &got), BYOC_ERR_OK);
    char *v = got.cxone_integration_id ? strdup(got.cxone_integration_id) : NULL;
    byoc_provider_release(&got);
    return v;
}

START_TEST(channel_upsert_sets_integration_only_once)
{
    given_provider(NULL);
    struct byoc_channel c = channel_of(prov.id, "ch-1", "X", "b", 5000);
    ck_assert_int_eq(channel_upsert(&c, "int-1"), BYOC_ERR_OK);
    char *v = integration_of(prov.id);
    ck_assert_pstr_eq(v, "int-1");
    free(v);
    ck_assert_int_eq(channel_upsert(&c, "int-2"), BYOC_ERR_OK);
    v = integration_of(prov.id);
    ck_assert_pstr_eq(v, "int-1");
    free(v);
}
END_TEST

START_TEST(channel_upsert_keeps_existing_integration)
{
    given_provider("int-orig");
    struct byoc_channel c = channel_of(prov.id, "ch-1", "X", "b", 5000);
    ck_assert_int_eq(channel_upsert(&c, "int-new"), BYOC_ERR_OK);
    char *v = integration_of(prov.id);
    ck_assert_pstr_eq(v, "int-orig");
    free(v);
}
END_TEST

START_TEST(failed_write_does_not_fail_batch_mates)
{
    given_provider(NULL);
    struct byoc_channel good = channel_of(prov.id, "ch-1", "X", NULL, 1000);
    struct byoc_channel bad = channel_of("prv_missing", "ch-1", "X", NULL, 1000);
    struct byoc_agent_msg m;
    msg_fill(&m, prov.id, "msg_1", "cxone:1", NULL);
    struct byoc_write w[3] = {{.kind = BYOC_WRITE_CHANNEL_UPSERT},
                              {.kind = BYOC_WRITE_CHANNEL_UPSERT},
                              {.kind = BYOC_WRITE_AGENT_MSG_ADD, .in.agent_msg = &m}};
    w[0].in.channel_upsert.channel = &good;
    w[1].in.channel_upsert.channel = &bad;
    for (int i = 0; i < 3; i++)
        submit_counted(&w[i]);
    ck_assert(wait_done(3, 30));
    ck_assert_int_eq(w[0].err, BYOC_ERR_OK);
    ck_assert_int_eq(w[1].err, BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(w[2].err, BYOC_ERR_OK);
    struct byoc_channel got;
    ck_assert_int_eq(byoc_store_channel_get(store, prov.id, "ch-1", &got), BYOC_ERR_OK);
    byoc_channel_release(&got);
    ck_assert_uint_eq(msg_count(prov.id, false), 1);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Agent messages                                                                              */

START_TEST(agent_msg_new_then_duplicate_returns_original)
{
    given_provider(NULL);
    struct byoc_agent_msg m1, m2;
    struct byoc_write w;
    msg_fill(&m1, prov.id, "msg_first", "cxone:abc", NULL);
    ck_assert_int_eq(msg_add(&m1, &w), BYOC_ERR_OK);
    ck_assert(!w.out.agent_msg.duplicate);
    ck_assert_str_eq(w.out.agent_msg.id, "msg_first");
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "");
    msg_fill(&m2, prov.id, "msg_second", "cxone:abc", NULL);
    m2.text = (char *)"a retry with other content";
    ck_assert_int_eq(msg_add(&m2, &w), BYOC_ERR_OK);
    ck_assert(w.out.agent_msg.duplicate);
    ck_assert_str_eq(w.out.agent_msg.id, "msg_first");
    ck_assert_uint_eq(msg_count(prov.id, false), 1);
    struct byoc_agent_msg got;
    ck_assert_int_eq(byoc_store_agent_msg_get(store, prov.id, "msg_first", &got), BYOC_ERR_OK);
    ck_assert_pstr_eq(got.text, "hello");
    byoc_agent_msg_release(&got);
    ck_assert_int_eq(byoc_store_agent_msg_get(store, prov.id, "msg_second", &got),
                     BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(agent_msg_dedupe_is_per_provider)
{
    given_provider(NULL);
    struct byoc_provider p2;
    provider_make(&p2, NULL, NOW_MS + 1);
    ck_assert_int_eq(provider_create(&p2), BYOC_ERR_OK);
    struct byoc_agent_msg m1, m2;
    struct byoc_write w;
    msg_fill(&m1, prov.id, "msg_a", "cxone:same", NULL);
    msg_fill(&m2, p2.id, "msg_b", "cxone:same", NULL);
    ck_assert_int_eq(msg_add(&m1, &w), BYOC_ERR_OK);
    ck_assert_int_eq(msg_add(&m2, &w), BYOC_ERR_OK);
    ck_assert(!w.out.agent_msg.duplicate);
    ck_assert_str_eq(w.out.agent_msg.id, "msg_b");
    ck_assert_uint_eq(msg_count(p2.id, false), 1);
    byoc_provider_release(&p2);
}
END_TEST

START_TEST(agent_msg_round_trip_fields)
{
    given_provider(NULL);
    struct byoc_agent_msg m;
    struct byoc_write w;
    msg_fill(&m, prov.id, "msg_1", "sha256:00ff", "thr-x");
    m.kind = BYOC_AGENT_MSG_OUTBOUND;
    m.channel_id = (char *)"chan-1";
    m.cxone_message_id = NULL;
    m.text = NULL;
    m.attachments_json = (char *)"[{\"name\":\"a\",\"url\":\"https://f/a\",\"mime_type\":null}]";
    m.agent_name = (char *)"Ada";
    m.agent_avatar_url = (char *)"https://img/a";
    m.raw_truncated = true;
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_OK);
    struct byoc_agent_msg got;
    ck_assert_int_eq(byoc_store_agent_msg_get(store, prov.id, "msg_1", &got), BYOC_ERR_OK);
    ck_assert_int_eq(got.kind, BYOC_AGENT_MSG_OUTBOUND);
    ck_assert_str_eq(got.provider_id, prov.id);
    ck_assert_pstr_eq(got.dedupe_key, "sha256:00ff");
    ck_assert_pstr_eq(got.channel_id, "chan-1");
    ck_assert_pstr_eq(got.thread_ref, "thr-x");
    ck_assert_ptr_null(got.post_id);
    ck_assert_ptr_null(got.conversation_id);
    ck_assert_ptr_null(got.text);
    ck_assert_ptr_null(got.cxone_message_id);
    ck_assert_pstr_eq(got.attachments_json, m.attachments_json);
    ck_assert_pstr_eq(got.agent_name, "Ada");
    ck_assert_pstr_eq(got.agent_avatar_url, "https://img/a");
    ck_assert(got.raw_truncated);
    ck_assert_uint_eq(got.raw_len, sizeof RAW - 1);
    ck_assert_mem_eq(got.raw_body, RAW, sizeof RAW - 1);
    ck_assert_int_eq(got.received_at, NOW_MS);
    ck_assert_int_gt(got.seq, 0);
    byoc_agent_msg_release(&got);
}
END_TEST

START_TEST(agent_msg_raw_body_read_back_is_a_string)
{
    /* Consumers render raw_body as a C string (handlers/admin.c), as produced by
     * byoc_agent_reply_parse; the copy read from the store must be NUL-terminated too. */
    given_provider(NULL);
    struct byoc_agent_msg m, got;
    struct byoc_write w;
    msg_fill(&m, prov.id, "msg_1", "cxone:1", NULL);
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_OK);
    ck_assert_int_eq(byoc_store_agent_msg_get(store, prov.id, "msg_1", &got), BYOC_ERR_OK);
    ck_assert_uint_eq(got.raw_len, sizeof RAW - 1);
    bool terminated = memchr(got.raw_body, '\0', got.raw_len + 1) != NULL;
    byoc_agent_msg_release(&got);
    ck_assert_msg(terminated, "raw_body has no NUL after raw_len bytes");
}
END_TEST

START_TEST(agent_msg_for_unknown_provider_not_found)
{
    struct byoc_agent_msg m;
    struct byoc_write w;
    msg_fill(&m, "prv_missing", "msg_1", "cxone:1", NULL);
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(agent_msg_paging_by_seq)
{
    given_provider(NULL);
    struct byoc_agent_msg m[7];
    char ids[7][16], keys_[7][16];
    struct byoc_write w;
    for (int i = 0; i < 7; i++) {
        snprintf(ids[i], sizeof ids[i], "msg_%d", i);
        snprintf(keys_[i], sizeof keys_[i], "cxone:%d", i);
        msg_fill(&m[i], prov.id, ids[i], keys_[i], NULL);
        ck_assert_int_eq(msg_add(&m[i], &w), BYOC_ERR_OK);
    }
    int64_t after = 0;
    size_t seen = 0, pages = 0;
    for (;;) {
        struct byoc_agent_msg *list = NULL;
        size_t n = 0;
        ck_assert_int_eq(byoc_store_agent_msg_list(store, prov.id, true, after, 3, &list, &n),
                         BYOC_ERR_OK);
        for (size_t i = 0; i < n; i++) {
            ck_assert_str_eq(list[i].id, ids[seen + i]);
            ck_assert_int_gt(list[i].seq, after);
            after = list[i].seq;
        }
        seen += n;
        pages++;
        byoc_agent_msg_list_free(list, n);
        if (n < 3)
            break;
    }
    ck_assert_uint_eq(seen, 7);
    ck_assert_uint_eq(pages, 3); /* 3 + 3 + 1 */
}
END_TEST

START_TEST(agent_msg_list_other_provider_empty)
{
    given_provider(NULL);
    struct byoc_agent_msg m;
    struct byoc_write w;
    msg_fill(&m, prov.id, "msg_1", "cxone:1", NULL);
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_OK);
    ck_assert_uint_eq(msg_count("prv_other", false), 0);
    ck_assert_uint_eq(msg_count(prov.id, true), 1); /* no conversations: unmatched */
    struct byoc_agent_msg got;
    ck_assert_int_eq(byoc_store_agent_msg_get(store, "prv_other", "msg_1", &got),
                     BYOC_ERR_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Action sessions                                                                             */

START_TEST(session_put_get_and_expiry)
{
    given_provider(NULL);
    struct byoc_action_session a;
    session_fill(&a, "sess-1", prov.id, NOW_MS + 900000);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_OK);
    struct byoc_action_session got;
    ck_assert_int_eq(byoc_store_action_session_get(store, a.id_hash, NOW_MS, &got), BYOC_ERR_OK);
    ck_assert_mem_eq(got.id_hash, a.id_hash, BYOC_SHA256_LEN);
    ck_assert_str_eq(got.provider_id, prov.id);
    ck_assert_pstr_eq(got.action, "add");
    ck_assert_pstr_eq(got.brand_id, "brand-1");
    ck_assert_pstr_eq(got.user_id, "user-1");
    ck_assert_ptr_null(got.channel_id);
    ck_assert_pstr_eq(got.back_url, "https://cxone.example.com/back");
    ck_assert_uint_eq(got.access_token_sealed.len, 12);
    ck_assert_mem_eq(got.access_token_sealed.data, "sealed-token", 12);
    ck_assert_int_eq(got.expires_at, NOW_MS + 900000);
    byoc_action_session_release(&got);
    ck_assert_int_eq(session_get(a.id_hash, NOW_MS + 899999), BYOC_ERR_OK);
    ck_assert_int_eq(session_get(a.id_hash, NOW_MS + 900000), BYOC_ERR_NOT_FOUND);
    uint8_t other[BYOC_SHA256_LEN] = {0};
    ck_assert_int_eq(session_get(other, NOW_MS), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(session_take_once)
{
    given_provider(NULL);
    struct byoc_action_session a, other;
    session_fill(&a, "sess-1", prov.id, NOW_MS + 60000);
    session_fill(&other, "sess-2", prov.id, NOW_MS + 60000);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_OK);
    ck_assert_int_eq(session_put(&other), BYOC_ERR_OK);
    ck_assert_int_eq(session_take(a.id_hash), BYOC_ERR_OK);
    ck_assert_int_eq(session_get(a.id_hash, NOW_MS), BYOC_ERR_NOT_FOUND);
    ck_assert_int_eq(session_take(a.id_hash), BYOC_ERR_NOT_FOUND); /* a double submit */
    ck_assert_int_eq(session_get(other.id_hash, NOW_MS), BYOC_ERR_OK);
}
END_TEST

START_TEST(session_take_then_put_back)
{
    given_provider(NULL);
    struct byoc_action_session a;
    session_fill(&a, "sess-1", prov.id, NOW_MS + 60000);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_OK);
    ck_assert_int_eq(session_take(a.id_hash), BYOC_ERR_OK);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_OK); /* restored after an upstream failure */
    ck_assert_int_eq(session_get(a.id_hash, NOW_MS), BYOC_ERR_OK);
    ck_assert_int_eq(session_take(a.id_hash), BYOC_ERR_OK);
}
END_TEST

START_TEST(session_take_unknown_not_found)
{
    uint8_t never[BYOC_SHA256_LEN];
    byoc_sha256("never", 5, never);
    ck_assert_int_eq(session_take(never), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(session_for_unknown_provider_not_found)
{
    struct byoc_action_session a;
    session_fill(&a, "sess-1", "prv_missing", NOW_MS + 900000);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(session_same_id_twice_conflicts)
{
    given_provider(NULL);
    struct byoc_action_session a;
    session_fill(&a, "sess-1", prov.id, NOW_MS + 900000);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_OK);
    ck_assert_int_eq(session_put(&a), BYOC_ERR_CONFLICT);
}
END_TEST

START_TEST(ping_answers)
{
    ck_assert(byoc_store_ping(store));
    int applied = 0, known = 0;
    byoc_store_schema(store, &applied, &known);
    ck_assert_int_ge(known, 1);
    ck_assert_int_eq(applied, known);
    byoc_store_close(NULL); /* NULL is fine */
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Group commit                                                                                */

#define GC_THREADS 8
#define GC_PER_THREAD 500

struct gc_item {
    struct byoc_agent_msg m;
    struct byoc_write w;
    char key[32], id[32];
};

struct gc_worker {
    pthread_t thread;
    int index;
    struct gc_item *items;
    int submit_errors;
};

static void *gc_submit_all(void *arg)
{
    struct gc_worker *wk = arg;
    for (int i = 0; i < GC_PER_THREAD; i++) {
        struct gc_item *it = &wk->items[i];
        snprintf(it->key, sizeof it->key, "cxone:%d-%d", wk->index, i);
        snprintf(it->id, sizeof it->id, "msg_%d_%d", wk->index, i);
        msg_fill(&it->m, prov.id, it->id, it->key, NULL);
        it->w = (struct byoc_write){.kind = BYOC_WRITE_AGENT_MSG_ADD, .in.agent_msg = &it->m};
        it->w.done = count_done;
        it->w.err = BYOC_ERR_INTERNAL;
        if (byoc_store_submit(store, &it->w) != BYOC_ERR_OK)
            wk->submit_errors++; /* asserted on the main thread */
    }
    return NULL;
}

static int gc_check_outcomes(struct gc_worker *wk)
{
    int bad = 0;
    for (int t = 0; t < GC_THREADS; t++) {
        for (int i = 0; i < GC_PER_THREAD; i++) {
            const struct byoc_write *w = &wk[t].items[i].w;
            if (w->err != BYOC_ERR_OK || w->out.agent_msg.duplicate ||
                strcmp(w->out.agent_msg.id, wk[t].items[i].id) != 0)
                bad++;
        }
    }
    return bad;
}

START_TEST(group_commit_many_submitters)
{
    given_provider(NULL);
    struct gc_worker wk[GC_THREADS];
    for (int t = 0; t < GC_THREADS; t++) {
        wk[t] =
            (struct gc_worker){.index = t, .items = calloc(GC_PER_THREAD, sizeof(struct gc_item))};
        ck_assert_ptr_nonnull(wk[t].items);
    }
    for (int t = 0; t < GC_THREADS; t++)
        ck_assert_int_eq(pthread_create(&wk[t].thread, NULL, gc_submit_all, &wk[t]), 0);
    int submit_errors = 0;
    for (int t = 0; t < GC_THREADS; t++) {
        pthread_join(wk[t].thread, NULL);
        submit_errors += wk[t].submit_errors;
    }
    ck_assert_int_eq(submit_errors, 0);
    ck_assert_msg(wait_done(GC_THREADS * GC_PER_THREAD, 100), "only %d completions", done_count);
    ck_assert_int_eq(gc_check_outcomes(wk), 0);
    ck_assert_uint_eq(msg_count(prov.id, false), GC_THREADS * GC_PER_THREAD);
    struct byoc_store_stats st;
    byoc_store_stats(store, &st);
    ck_assert_uint_ge(st.writes, GC_THREADS * GC_PER_THREAD + 1);
    ck_assert_uint_lt(st.batches, st.writes);
    ck_assert_uint_eq(st.failed_commits, 0);
    ck_assert_uint_eq(st.queued, 0);
    for (int t = 0; t < GC_THREADS; t++)
        free(wk[t].items);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Files: durability, conversations, schema, open errors                                       */

START_TEST(data_survives_reopen)
{
    open_path(db_path);
    given_provider(NULL);
    struct byoc_channel c = channel_of(prov.id, "ch-1", "Chat", "b", 1000);
    ck_assert_int_eq(channel_upsert(&c, NULL), BYOC_ERR_OK);
    struct byoc_agent_msg m;
    struct byoc_write w;
    msg_fill(&m, prov.id, "msg_1", "cxone:1", "thr");
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_OK);
    reopen();
    struct byoc_provider got;
    ck_assert_int_eq(byoc_store_provider_get(store, prov.id, &got), BYOC_ERR_OK);
    ck_assert_str_eq(got.name, "Acme Support");
    byoc_provider_release(&got);
    struct byoc_channel ch;
    ck_assert_int_eq(byoc_store_channel_get(store, prov.id, "ch-1", &ch), BYOC_ERR_OK);
    byoc_channel_release(&ch);
    ck_assert_uint_eq(msg_count(prov.id, false), 1);
    /* the dedupe index survives too */
    struct byoc_agent_msg again;
    msg_fill(&again, prov.id, "msg_2", "cxone:1", "thr");
    ck_assert_int_eq(msg_add(&again, &w), BYOC_ERR_OK);
    ck_assert(w.out.agent_msg.duplicate);
    ck_assert_str_eq(w.out.agent_msg.id, "msg_1");
}
END_TEST

START_TEST(open_creates_parent_directories)
{
    snprintf(db_path, sizeof db_path, "%s/a/b/byocd.db", dir);
    open_path(db_path);
    struct stat st;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/a", dir);
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 077, 0); /* the key file lives here too */
    ck_assert_int_eq(stat(db_path, &st), 0);
}
END_TEST

START_TEST(open_unwritable_path_fails)
{
    char why[256] = "";
    ck_assert_int_eq(byoc_store_open("/dev/null/byocd.db", &store, why, sizeof why),
                     BYOC_ERR_STORE_IO);
    ck_assert_ptr_null(store);
    ck_assert(why[0] != '\0');
}
END_TEST

/* Runs sql on a separate connection to db_path. */
static void side_exec(const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(db);
}

static void add_conversation(const char *id, const char *thread)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO conversations (id, provider_id, channel_id, thread_id, state, "
             "created_at, updated_at) VALUES ('%s', '%s', 'ch-1', '%s', 'open', 1, 1)",
             id, prov.id, thread);
    side_exec(sql);
}

START_TEST(thread_matching_conversation_gets_its_id)
{
    open_path(db_path);
    given_provider(NULL);
    add_conversation("cnv_1", "thr-1");
    struct byoc_agent_msg by_thread, by_conv_id, by_post, unknown;
    struct byoc_write w;
    msg_fill(&by_thread, prov.id, "msg_1", "cxone:1", "thr-1");
    ck_assert_int_eq(msg_add(&by_thread, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "cnv_1");
    msg_fill(&by_conv_id, prov.id, "msg_2", "cxone:2", "cnv_1");
    ck_assert_int_eq(msg_add(&by_conv_id, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "cnv_1");
    msg_fill(&by_post, prov.id, "msg_3", "cxone:3", NULL);
    by_post.post_id = (char *)"thr-1";
    ck_assert_int_eq(msg_add(&by_post, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "cnv_1");
    msg_fill(&unknown, prov.id, "msg_4", "cxone:4", "thr-unknown");
    ck_assert_int_eq(msg_add(&unknown, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "");

    ck_assert_uint_eq(msg_count(prov.id, false), 4);
    struct byoc_agent_msg *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(byoc_store_agent_msg_list(store, prov.id, true, 0, 50, &list, &n),
                     BYOC_ERR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, "msg_4");
    byoc_agent_msg_list_free(list, n);
    struct byoc_agent_msg got;
    ck_assert_int_eq(byoc_store_agent_msg_get(store, prov.id, "msg_1", &got), BYOC_ERR_OK);
    ck_assert_pstr_eq(got.conversation_id, "cnv_1");
    byoc_agent_msg_release(&got);
}
END_TEST

START_TEST(conversation_of_other_provider_not_matched)
{
    open_path(db_path);
    given_provider(NULL);
    struct byoc_provider p2;
    provider_make(&p2, NULL, NOW_MS + 1);
    ck_assert_int_eq(provider_create(&p2), BYOC_ERR_OK);
    add_conversation("cnv_1", "thr-1"); /* belongs to prov */
    struct byoc_agent_msg m;
    struct byoc_write w;
    msg_fill(&m, p2.id, "msg_1", "cxone:1", "thr-1");
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_OK);
    ck_assert_str_eq(w.out.agent_msg.conversation_id, "");
    ck_assert_uint_eq(msg_count(p2.id, true), 1);
    byoc_provider_release(&p2);
}
END_TEST

START_TEST(newer_schema_refused)
{
    open_path(db_path);
    int applied = 0, known = 0;
    byoc_store_schema(store, &applied, &known);
    ck_assert_int_eq(applied, known);
    byoc_store_close(store);
    store = NULL;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", known + 1);
    side_exec(sql);
    char why[256] = "";
    ck_assert_int_eq(byoc_store_open(db_path, &store, why, sizeof why), BYOC_ERR_STORE_SCHEMA);
    ck_assert_ptr_null(store);
    ck_assert(why[0] != '\0');
    /* the current version still opens */
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", known);
    side_exec(sql);
    open_path(db_path);
}
END_TEST

/* The operator commands' open: never creates, never migrates. */
START_TEST(open_existing_neither_creates_nor_migrates)
{
    char missing[600], why[256] = "";
    snprintf(missing, sizeof missing, "%s.absent", db_path);
    ck_assert_int_eq(byoc_store_open_existing(missing, &store, why, sizeof why),
                     BYOC_ERR_NOT_FOUND);
    ck_assert_ptr_null(store);
    ck_assert_int_ne(access(missing, F_OK), 0);
    open_path(db_path);
    int applied = 0, known = 0;
    byoc_store_schema(store, &applied, &known);
    byoc_store_close(store);
    store = NULL;
    /* an older schema: refused with the way out, and left as it was */
    side_exec("PRAGMA user_version = 1");
    why[0] = '\0';
    ck_assert_int_eq(byoc_store_open_existing(db_path, &store, why, sizeof why),
                     BYOC_ERR_STORE_SCHEMA);
    ck_assert_msg(strstr(why, "byocd migrate"), "%s", why);
    ck_assert_ptr_null(store);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", known);
    side_exec(sql);
    ck_assert_int_eq(byoc_store_open_existing(db_path, &store, why, sizeof why), BYOC_ERR_OK);
    ck_assert(byoc_store_writable(store));
    ck_assert_ptr_nonnull(byoc_store_restore_hint(store));
}
END_TEST

START_TEST(backup_private_checked_never_overwrites)
{
    open_path(db_path);
    given_provider("int-backup");
    char dest[600], why[256] = "";
    snprintf(dest, sizeof dest, "%s.copy", db_path);
    unlink(dest);
    mode_t old = umask(022);
    enum byoc_err e = byoc_store_backup(store, dest, why, sizeof why);
    umask(old);
    ck_assert_msg(e == BYOC_ERR_OK, "%s", why);
    struct stat sb;
    ck_assert_int_eq(stat(dest, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600); /* the copy holds conversations */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open_v2(dest, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM providers", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* an existing file, or a symlink planted at the name, is refused and left alone */
    ck_assert_int_eq(byoc_store_backup(store, dest, why, sizeof why), BYOC_ERR_CONFLICT);
    ck_assert_int_eq(stat(dest, &sb), 0);
    char link_path[640], target[640];
    snprintf(link_path, sizeof link_path, "%s.link", db_path);
    snprintf(target, sizeof target, "%s.target", db_path);
    unlink(link_path);
    unlink(target);
    ck_assert_int_eq(symlink(target, link_path), 0);
    ck_assert_int_ne(byoc_store_backup(store, link_path, why, sizeof why), BYOC_ERR_OK);
    ck_assert_int_ne(access(target, F_OK), 0);
    unlink(link_path);
    unlink(dest);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Storage failures through the fault VFS                                                      */

static void open_faulty(void)
{
    faulty_vfs_register();
    char uri[320];
    snprintf(uri, sizeof uri, "file:%s?vfs=" FAULT_VFS, db_path);
    open_path(uri);
}

/* While writes fail with rc: a sync write and an async batch all get want, none is visible
 * afterwards, reads keep working, and writes succeed again once the fault clears. */
static void fault_scenario(int rc, enum byoc_err want)
{
    open_faulty();
    given_provider(NULL);
    atomic_store(&fault_rc, rc);
    struct byoc_agent_msg sync_msg, m[4];
    struct byoc_write w, aw[5];
    msg_fill(&sync_msg, prov.id, "msg_sync", "cxone:sync", NULL);
    ck_assert_int_eq(msg_add(&sync_msg, &w), want);
    static const char *const ids[] = {"msg_a0", "msg_a1", "msg_a2", "msg_a3"};
    static const char *const keys_[] = {"cxone:a0", "cxone:a1", "cxone:a2", "cxone:a3"};
    for (int i = 0; i < 4; i++) {
        msg_fill(&m[i], prov.id, ids[i], keys_[i], NULL);
        aw[i] = (struct byoc_write){.kind = BYOC_WRITE_AGENT_MSG_ADD, .in.agent_msg = &m[i]};
    }
    struct byoc_channel c = channel_of(prov.id, "ch-1", "X", NULL, 1000);
    aw[4] = (struct byoc_write){.kind = BYOC_WRITE_CHANNEL_UPSERT};
    aw[4].in.channel_upsert.channel = &c;
    for (int i = 0; i < 5; i++)
        submit_counted(&aw[i]);
    ck_assert(wait_done(5, 30));
    for (int i = 0; i < 5; i++)
        ck_assert_msg(aw[i].err == want, "write %d: %d", i, (int)aw[i].err);
    struct byoc_provider got; /* reads are unaffected */
    ck_assert_int_eq(byoc_store_provider_get(store, prov.id, &got), BYOC_ERR_OK);
    byoc_provider_release(&got);

    atomic_store(&fault_rc, 0);
    ck_assert_uint_eq(msg_count(prov.id, false), 0);
    struct byoc_channel ch;
    ck_assert_int_eq(byoc_store_channel_get(store, prov.id, "ch-1", &ch), BYOC_ERR_NOT_FOUND);
    struct byoc_store_stats st;
    byoc_store_stats(store, &st);
    ck_assert_uint_ge(st.failed_commits, 2);

    ck_assert_int_eq(msg_add(&sync_msg, &w), BYOC_ERR_OK);
    ck_assert(!w.out.agent_msg.duplicate);
    ck_assert_int_eq(channel_upsert(&c, NULL), BYOC_ERR_OK);
    ck_assert_uint_eq(msg_count(prov.id, false), 1);
}

START_TEST(io_error_fails_batch_then_recovers)
{
    fault_scenario(SQLITE_IOERR_WRITE, BYOC_ERR_STORE_IO);
}
END_TEST

START_TEST(disk_full_fails_batch_then_recovers)
{
    fault_scenario(SQLITE_FULL, BYOC_ERR_STORE_FULL);
}
END_TEST

START_TEST(recovered_writes_are_durable)
{
    open_faulty();
    given_provider(NULL);
    atomic_store(&fault_rc, SQLITE_IOERR_WRITE);
    struct byoc_agent_msg m;
    struct byoc_write w;
    msg_fill(&m, prov.id, "msg_1", "cxone:1", NULL);
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_STORE_IO);
    atomic_store(&fault_rc, 0);
    ck_assert_int_eq(msg_add(&m, &w), BYOC_ERR_OK);
    byoc_store_close(store);
    store = NULL;
    open_path(db_path); /* plain path, default VFS */
    ck_assert_uint_eq(msg_count(prov.id, false), 1);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static TCase *tcase(const char *name, void (*setup)(void), int timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, timeout_s);
    return tc;
}

static void add_records(Suite *s)
{
    TCase *tc = tcase("providers", setup_memory, 30);
    tcase_add_test(tc, provider_create_and_get_round_trip);
    tcase_add_test(tc, provider_get_missing);
    tcase_add_test(tc, provider_list_ordered_by_creation);
    tcase_add_test(tc, provider_list_empty);
    tcase_add_test(tc, provider_duplicate_id_or_client_id_conflicts);
    tcase_add_test(tc, provider_delete_and_missing);
    tcase_add_test(tc, provider_delete_cascades);
    tcase_add_test(tc, ping_answers);
    suite_add_tcase(s, tc);

    tc = tcase("channels", setup_memory, 30);
    tcase_add_test(tc, channel_insert_then_update_keeps_created_at);
    tcase_add_test(tc, channel_list_and_get_missing);
    tcase_add_test(tc, channel_for_unknown_provider_not_found);
    tcase_add_test(tc, channel_delete_and_missing);
    tcase_add_test(tc, channel_upsert_sets_integration_only_once);
    tcase_add_test(tc, channel_upsert_keeps_existing_integration);
    tcase_add_test(tc, failed_write_does_not_fail_batch_mates);
    suite_add_tcase(s, tc);

    tc = tcase("agent_messages", setup_memory, 30);
    tcase_add_test(tc, agent_msg_new_then_duplicate_returns_original);
    tcase_add_test(tc, agent_msg_dedupe_is_per_provider);
    tcase_add_test(tc, agent_msg_round_trip_fields);
    tcase_add_test(tc, agent_msg_raw_body_read_back_is_a_string);
    tcase_add_test(tc, agent_msg_for_unknown_provider_not_found);
    tcase_add_test(tc, agent_msg_paging_by_seq);
    tcase_add_test(tc, agent_msg_list_other_provider_empty);
    suite_add_tcase(s, tc);

    tc = tcase("sessions", setup_memory, 30);
    tcase_add_test(tc, session_put_get_and_expiry);
    tcase_add_test(tc, session_take_once);
    tcase_add_test(tc, session_take_then_put_back);
    tcase_add_test(tc, session_take_unknown_not_found);
    tcase_add_test(tc, session_for_unknown_provider_not_found);
    tcase_add_test(tc, session_same_id_twice_conflicts);
    suite_add_tcase(s, tc);
}

static void add_engine(Suite *s)
{
    TCase *tc = tcase("group_commit", setup_memory, 110);
    tcase_add_test(tc, group_commit_many_submitters);
    suite_add_tcase(s, tc);

    tc = tcase("files", setup_dir, 60);
    tcase_add_test(tc, data_survives_reopen);
    tcase_add_test(tc, open_creates_parent_directories);
    tcase_add_test(tc, open_unwritable_path_fails);
    tcase_add_test(tc, thread_matching_conversation_gets_its_id);
    tcase_add_test(tc, conversation_of_other_provider_not_matched);
    tcase_add_test(tc, newer_schema_refused);
    tcase_add_test(tc, open_existing_neither_creates_nor_migrates);
    tcase_add_test(tc, backup_private_checked_never_overwrites);
    suite_add_tcase(s, tc);

    tc = tcase("faults", setup_dir, 60);
    tcase_add_test(tc, io_error_fails_batch_then_recovers);
    tcase_add_test(tc, disk_full_fails_batch_then_recovers);
    tcase_add_test(tc, recovered_writes_are_durable);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("store");
    add_records(s);
    add_engine(s);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
