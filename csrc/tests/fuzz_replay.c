/*
 * Runs the fuzz target (fuzz_load.c) once on each file named on the command line,
 * and on each file inside a named directory: the corpus as a regression test in
 * builds without libFuzzer (plain, or with the sanitizers).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
        if (f) fclose(f);
        return 0;
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
        free(buf);
        fclose(f);
        return 0;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    int i, files = 0;
    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *dir = opendir(argv[i]);
            struct dirent *ent;
            while (dir && (ent = readdir(dir)) != NULL) {
                char path[4096];
                struct stat est;
                snprintf(path, sizeof path, "%s/%s", argv[i], ent->d_name);
                if (stat(path, &est) == 0 && S_ISREG(est.st_mode)) files += replay_file(path);
            }
            if (dir) closedir(dir);
        } else {
            files += replay_file(argv[i]);
        }
    }
    printf("replayed %d files\n", files);
    return files > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
