/* test-eval-cli.c - `anomem eval` end to end on three dataset trees the test
 * builds from synthetic images (MVTec AD layout, VisA layout with its split
 * CSV, folder layout), with the tiny reference CLIP: the metric files' content,
 * resuming, and the HTML report rendered by headless Chromium (not blank). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"

static char tmp[] = "/tmp/anomem-eval-XXXXXX";

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const char *cli(void) {
    const char *c = getenv("ANOMEM_CLI");
    return c ? c : "./anomem";
}

/* Checks metrics.json: categories, values in [0, 1] (or "undefined"), the
 * mean, the settings; returns the number of categories. */
static int check_metrics(const char *out, int shots, int want_categories, int want_pixel) {
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.json", out);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL, "%s: %s", path, jerr.text);
    if (!root) return 0;
    json_t *cats = json_object_get(root, "categories");
    CHECK((int)json_array_size(cats) == want_categories, "%s: %d categories", path,
          (int)json_array_size(cats));
    for (size_t i = 0; i < json_array_size(cats); i++) {
        json_t *c = json_array_get(cats, i);
        const char *keys[] = {"auroc", "ap", "f1max"};
        for (int k = 0; k < 3; k++) {
            json_t *v = json_object_get(json_object_get(c, "image"), keys[k]);
            CHECK(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1,
                  "image %s in [0,1]", keys[k]);
            v = json_object_get(json_object_get(c, "pixel"), keys[k]);
            if (want_pixel)
                CHECK(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1,
                      "pixel %s in [0,1]", keys[k]);
            else
                CHECK(json_is_string(v) && strcmp(json_string_value(v), "undefined") == 0,
                      "pixel %s undefined without masks", keys[k]);
        }
        json_t *aupro = json_object_get(json_object_get(c, "pixel"), "aupro");
        if (want_pixel) CHECK(json_is_number(aupro), "aupro is a number");
    }
    json_t *mean = json_object_get(root, "mean");
    CHECK(json_is_number(json_object_get(mean, "image_auroc")), "mean image AUROC");
    json_t *settings = json_object_get(root, "settings");
    CHECK(json_integer_value(json_object_get(settings, "shots")) == shots, "settings.shots");
    const char *clip = json_string_value(json_object_get(settings, "clip"));
    CHECK(clip && strchr(clip, ':') != NULL, "settings.clip holds the CLIP identity");
    json_decref(root);
    /* the csv and markdown tables: header, one row per category, the mean */
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    FILE *f = fopen(path, "r");
    int lines = 0;
    char line[2048];
    while (f && fgets(line, sizeof line, f)) lines++;
    if (f) fclose(f);
    CHECK(lines == want_categories + 2, "metrics.csv has %d lines", lines);
    snprintf(path, sizeof path, "%s/report.html", out);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 1000, "report.html written");
    return want_categories;
}

/* Lines of a file. */
static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

static void test_mvtec(const char *clip) {
    CHECK(run("%s eval --root %s/mv --dataset mvtec --shots 1 --clip %s --out %s/out-mv "
              ">%s/mv.log 2>&1",
              cli(), tmp, clip, tmp, tmp) == 0,
          "eval mvtec");
    char out[4200], path[4300];
    snprintf(out, sizeof out, "%s/out-mv", tmp);
    check_metrics(out, 1, 3, 1);
    snprintf(path, sizeof path, "%s/scores.csv", out);
    /* 3 categories x (2 good + 4 defects x 1) test images, plus the header */
    CHECK(count_lines(path) == 1 + 3 * 6, "scores.csv rows: %d", count_lines(path));
    /* a rerun resumes: the finished categories' files are kept as they are */
    snprintf(path, sizeof path, "%s/pills/result.json", out);
    struct stat a, b;
    stat(path, &a);
    CHECK(run("%s eval --root %s/mv --dataset mvtec --shots 1 --clip %s --out %s/out-mv "
              ">%s/mv2.log 2>&1",
              cli(), tmp, clip, tmp, tmp) == 0,
          "eval mvtec again");
    stat(path, &b);
    CHECK(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec,
          "resumed category not recomputed");
    /* zero-shot over one selected category */
    CHECK(run("%s eval --root %s/mv --dataset mvtec --category bars --zero-shot --clip %s "
              "--out %s/out-zs >%s/zs.log 2>&1",
              cli(), tmp, clip, tmp, tmp) == 0,
          "eval zero-shot");
    snprintf(out, sizeof out, "%s/out-zs", tmp);
    check_metrics(out, 0, 1, 1);
}

/* Copies the synthetic MVTec tree into the VisA layout with its split CSV. */
static void make_visa(void) {
    CHECK(run("set -e; cd %s; mkdir -p visa/split_csv; "
              "echo 'object,split,label,image,mask' > visa/split_csv/1cls.csv; "
              "for c in pills washers; do "
              " mkdir -p visa/$c/Data/Images/Normal visa/$c/Data/Images/Anomaly "
              "visa/$c/Data/Masks/Anomaly; "
              " for f in mv/$c/train/good/*.png; do n=train_$(basename $f); "
              "  cp $f visa/$c/Data/Images/Normal/$n; "
              "  echo \"$c,train,normal,$c/Data/Images/Normal/$n,\" >> visa/split_csv/1cls.csv; done; "
              " for f in mv/$c/test/good/*.png; do n=test_$(basename $f); "
              "  cp $f visa/$c/Data/Images/Normal/$n; "
              "  echo \"$c,test,normal,$c/Data/Images/Normal/$n,\" >> visa/split_csv/1cls.csv; done; "
              " for d in scratch stain; do for f in mv/$c/test/$d/*.png; do "
              "  n=${d}_$(basename $f); s=$(basename $f .png); "
              "  cp $f visa/$c/Data/Images/Anomaly/$n; "
              "  cp mv/$c/ground_truth/$d/${s}_mask.png visa/$c/Data/Masks/Anomaly/$n; "
              "  echo \"$c,test,anomaly,$c/Data/Images/Anomaly/$n,$c/Data/Masks/Anomaly/$n\" "
              ">> visa/split_csv/1cls.csv; done; done; done",
              tmp) == 0,
          "build the VisA tree");
}

static void test_visa(const char *clip) {
    make_visa();
    CHECK(run("%s eval --root %s/visa --dataset visa --shots 2 --seed 3 --clip %s --out "
              "%s/out-visa >%s/visa.log 2>&1",
              cli(), tmp, clip, tmp, tmp) == 0,
          "eval visa");
    char out[4200], path[4300];
    snprintf(out, sizeof out, "%s/out-visa", tmp);
    check_metrics(out, 2, 2, 1);
    snprintf(path, sizeof path, "%s/scores.csv", out);
    CHECK(count_lines(path) == 1 + 2 * 4, "visa scores.csv rows: %d", count_lines(path));
}

static void test_folder(const char *clip) {
    CHECK(run("set -e; cd %s; mkdir -p folder/good folder/bad folder/train; "
              "cp mv/washers/train/good/*.png folder/train/; "
              "cp mv/washers/test/good/*.png folder/good/; "
              "for f in mv/washers/test/missing/*.png; do cp $f folder/bad/m$(basename $f); done",
              tmp) == 0,
          "build the folder tree");
    CHECK(run("%s eval --root %s/folder --dataset folder --shots 1 --clip %s --out "
              "%s/out-folder >%s/folder.log 2>&1",
              cli(), tmp, clip, tmp, tmp) == 0,
          "eval folder");
    char out[4200];
    snprintf(out, sizeof out, "%s/out-folder", tmp);
    check_metrics(out, 1, 1, 0); /* no masks: pixel metrics undefined */
}

/* Headless Chromium renders the report; the screenshot must not be blank. */
static void test_report_renders(void) {
    char shot[4200];
    snprintf(shot, sizeof shot, "%s/report.png", tmp);
    int rc = run("chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                 "--disable-background-networking --disable-component-update --disable-sync "
                 "--user-data-dir=%s/chrome --window-size=1200,900 --screenshot=%s "
                 "file://%s/out-mv/report.html >%s/chrome.log 2>&1",
                 tmp, shot, tmp, tmp);
    CHECK(rc == 0, "chromium renders the report (see %s/chrome.log)", tmp);
    am_error err = {0};
    am_image img = {0};
    CHECK_OK(am_image_read(shot, 0, &img, &err));
    if (!img.data) return;
    /* not blank: many distinct colours, and not all white */
    int64_t n = (int64_t)img.width * img.height, dark = 0;
    int seen[64] = {0}, distinct = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = img.data + i * 3;
        if (p[0] < 128 && p[1] < 128 && p[2] < 128) dark++;
        int key = (p[0] >> 6) << 4 | (p[1] >> 6) << 2 | (p[2] >> 6);
        if (!seen[key]++) distinct++;
    }
    CHECK(dark > n / 200, "text and pictures drawn (%lld dark pixels)", (long long)dark);
    CHECK(distinct >= 6, "colours in the screenshot: %d", distinct);
    am_image_free(&img);
}

int main(void) {
    am_error err = {0};
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char root[4200], clip[4200];
    snprintf(root, sizeof root, "%s/mv", tmp);
    CHECK_OK(am_synth_write(root, 5, 2, 2, 1, 160, &err));
    snprintf(clip, sizeof clip, "%s", check_shared_path("vectors/clip-tiny/model.safetensors"));
    test_mvtec(clip);
    test_visa(clip);
    test_folder(clip);
    test_report_renders();
    if (check_failed == 0) run("rm -rf '%s'", tmp);
    else fprintf(stderr, "kept %s for inspection\n", tmp);
    return check_summary();
}
