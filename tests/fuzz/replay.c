/* replay.c - run a fuzz target over files or directories of inputs, for
 * builds without libFuzzer (gcc): every seed and every past crash replays. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned ran;

static int run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	size_t cap = 1 << 20, used = 0;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		fclose(fp);
		return -1;
	}
	for (;;) {
		size_t got = fread(buf + used, 1, cap - used, fp);
		used += got;
		if (got == 0 || used < cap)
			break;
		uint8_t *bigger = realloc(buf, cap * 2);
		if (!bigger)
			break;
		buf = bigger;
		cap *= 2;
	}
	fclose(fp);
	/* A copy of exactly `used` bytes, so that ASan sees reads past the end. */
	uint8_t *exact = malloc(used ? used : 1);
	if (exact) {
		memcpy(exact, buf, used);
		LLVMFuzzerTestOneInput(exact, used);
		free(exact);
		ran++;
	}
	free(buf);
	return 0;
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: not found\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rc |= run_path(sub);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;
	for (int i = 1; i < argc; i++)
		rc |= run_path(argv[i]);
	printf("replay: %u inputs run\n", ran);
	return rc || ran == 0 ? 1 : 0;
}
