/*
 * fuzz_replay.c: corpus replay for the fuzz targets' Check tests
 * (fuzz_replay.h).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_replay.h"

void
fuzz_replay_file(const char *path, size_t max, fuzz_replay_fn each, void *arg)
{
	FILE *fp = fopen(path, "rb");
	const char *name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	struct stat st;
	uint8_t *buf;
	size_t n;

	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_msg(fstat(fileno(fp), &st) == 0, "cannot stat %s", path);
	ck_assert_msg((uint64_t)st.st_size <= max, "%s is larger than a seed should be", path);
	n = (size_t)st.st_size;
	/* malloc(0) may give NULL: the target then gets (NULL, 0), as libFuzzer
	 * may hand it. */
	buf = malloc(n);
	ck_assert_msg(buf != NULL || n == 0, "out of memory reading %s", path);
	ck_assert_msg(n == 0 || fread(buf, 1, n, fp) == n, "cannot read %s whole", path);
	fclose(fp);
	fprintf(stderr, "corpus: %s\n", name);
	LLVMFuzzerTestOneInput(buf, n);
	if (each != NULL)
		each(name, buf, n, arg);
	free(buf);
}

int
fuzz_replay_dir(const char *dir, size_t max, fuzz_replay_fn each, void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	int files = 0;

	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, de->d_name),
		    (int)sizeof(path));
		fuzz_replay_file(path, max, each, arg);
		files++;
	}
	closedir(d);
	return files;
}
