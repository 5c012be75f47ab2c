#include "byoc/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byoc/util.h"
#include "byoc/banned.h"

#define KEY_HEX_LEN (2 * BYOC_KEY_LEN)

static void derive(const uint8_t master[BYOC_KEY_LEN], struct byoc_keys *out)
{
    static const char seal_label[] = "byocd seal v1", jwt_label[] = "byocd jwt v1";
    byoc_hmac_sha256(master, BYOC_KEY_LEN, seal_label, sizeof seal_label - 1, out->seal);
    byoc_hmac_sha256(master, BYOC_KEY_LEN, jwt_label, sizeof jwt_label - 1, out->jwt);
}

static bool decode_key(const char *text, uint8_t key[BYOC_KEY_LEN])
{
    size_t n = 0;
    if (byoc_hex_decode(text, key, BYOC_KEY_LEN))
        return true;
    return byoc_base64_decode(text, strlen(text), key, BYOC_KEY_LEN, &n) == BYOC_ERR_OK &&
           n == BYOC_KEY_LEN;
}

void byoc_keys_file_path(const char *database_path, char *out, size_t cap)
{
    const char *slash = strrchr(database_path, '/');
    if (!slash)
        snprintf(out, cap, "%s", BYOC_KEY_FILE_NAME);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - database_path), database_path,
                 BYOC_KEY_FILE_NAME);
}

static enum byoc_err read_key_file(const char *path, uint8_t key[BYOC_KEY_LEN], char *why,
                                   size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(why, cap, "BYOCD_MASTER_KEY: cannot read %s: %s", path, strerror(errno));
        return BYOC_ERR_IO;
    }
    struct stat st;
    char text[KEY_HEX_LEN + 2] = {0};
    ssize_t n = fstat(fd, &st) == 0 ? read(fd, text, sizeof text - 1) : -1;
    close(fd);
    if (n >= 0 && (st.st_mode & 077)) {
        snprintf(why, cap, "BYOCD_MASTER_KEY: %s is readable by others; run chmod 600 on it", path);
        return BYOC_ERR_IO;
    }
    if (n > 0 && text[n - 1] == '\n')
        text[n - 1] = '\0';
    if (n < 0 || !byoc_hex_decode(text, key, BYOC_KEY_LEN)) {
        snprintf(why, cap, "BYOCD_MASTER_KEY: %s does not hold 64 hex digits", path);
        return BYOC_ERR_IO;
    }
    return BYOC_ERR_OK;
}

static enum byoc_err write_key_file(const char *path, uint8_t key[BYOC_KEY_LEN], char *why,
                                    size_t cap)
{
    enum byoc_err e = byoc_random_bytes(key, BYOC_KEY_LEN);
    if (e)
        return e;
    char text[KEY_HEX_LEN + 2];
    byoc_hex_encode(key, BYOC_KEY_LEN, text);
    text[KEY_HEX_LEN] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && write(fd, text, KEY_HEX_LEN + 1) == KEY_HEX_LEN + 1 && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        snprintf(why, cap, "BYOCD_MASTER_KEY: cannot create %s: %s", path, strerror(saved));
        return BYOC_ERR_IO;
    }
    return BYOC_ERR_OK;
}

enum byoc_err byoc_keys_load(const char *configured, const char *database_path,
                             struct byoc_keys *out, bool *generated, char *key_path,
                             size_t key_path_cap, char *why, size_t why_cap)
{
    uint8_t master[BYOC_KEY_LEN];
    enum byoc_err e = BYOC_ERR_OK;
    *generated = false;
    key_path[0] = '\0';
    if (configured) {
        if (!decode_key(configured, master)) {
            snprintf(why, why_cap, "BYOCD_MASTER_KEY: must be 32 bytes as hex or base64");
            return BYOC_ERR_CONFIG;
        }
    } else if (strcmp(database_path, ":memory:") == 0) {
        e = byoc_random_bytes(master, sizeof master);
        *generated = true;
    } else {
        byoc_keys_file_path(database_path, key_path, key_path_cap);
        if (access(key_path, F_OK) == 0) {
            e = read_key_file(key_path, master, why, why_cap);
        } else {
            e = write_key_file(key_path, master, why, why_cap);
            *generated = e == BYOC_ERR_OK;
        }
    }
    if (!e)
        derive(master, out);
    memset(master, 0, sizeof master);
    return e;
}
