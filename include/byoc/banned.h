/* Functions that are easy to misuse; included last by every translation unit of byocd.
 * Use snprintf, byoc_buf, strtol/strtoll with checks, gmtime_r/localtime_r instead. */
#ifndef BYOC_BANNED_H
#define BYOC_BANNED_H

#define BYOC_BANNED(func) sorry_##func##_is_banned_in_byocd

#undef strcpy
#define strcpy(x, y) BYOC_BANNED(strcpy)
#undef strcat
#define strcat(x, y) BYOC_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BYOC_BANNED(strncpy)
#undef sprintf
#define sprintf(...) BYOC_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BYOC_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BYOC_BANNED(strtok)
#undef atoi
#define atoi(x) BYOC_BANNED(atoi)
#undef atol
#define atol(x) BYOC_BANNED(atol)
#undef gmtime
#define gmtime(t) BYOC_BANNED(gmtime)
#undef localtime
#define localtime(t) BYOC_BANNED(localtime)

#endif
