/* test-dataset.c - the dataset loaders: MVTec AD, VisA and folder trees built
 * in a temporary folder with tiny PNG files, the parsed lists, the k-shot draw,
 * the problems reported for missing or mismatched files, and the VisA split
 * file parser (edge cases and the real 1cls.csv). */
#include <ftw.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anomem.h"
#include "check.h"
#include "eval/dataset.h"

static char tmp_root[256];

/* Creates every folder of `path` (relative to tmp_root) up to its last slash. */
static void make_parents(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", tmp_root, path);
    for (char *p = buf + strlen(tmp_root) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(buf, 0755);
        *p = '/';
    }
}

/* Writes a 2x2 gray PNG at tmp_root/path (the loader only lists files; any
 * image decoder must still accept them). */
static void write_png(const char *path) {
    make_parents(path);
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", tmp_root, path);
    FILE *f = fopen(full, "wb");
    CHECK(f != NULL, "cannot create %s", full);
    if (!f) return;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        CHECK(0, "libpng failed on %s", full);
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, 2, 2, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_byte row[2] = {0, 255};
    png_write_row(png, row);
    png_write_row(png, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void write_text(const char *path, const char *text) {
    make_parents(path);
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", tmp_root, path);
    FILE *f = fopen(full, "wb");
    CHECK(f != NULL, "cannot create %s", full);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *path) {
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", tmp_root, path);
    CHECK(unlink(full) == 0, "cannot remove %s", full);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* A fresh temporary root; the previous one is removed. */
static const char *fresh_root(void) {
    if (tmp_root[0]) nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(tmp_root, sizeof tmp_root, "/tmp/anomem-dataset-XXXXXX");
    CHECK(mkdtemp(tmp_root) != NULL, "mkdtemp failed");
    return tmp_root;
}

static const char *sub(const char *rel) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", tmp_root, rel);
    return buf;
}

/* ---- MVTec AD ---------------------------------------------------------- */

static void build_mvtec(void) {
    fresh_root();
    const char *files[] = {
        "bottle/train/good/000.png", "bottle/train/good/001.png", "bottle/train/good/002.png",
        "bottle/train/good/003.png", "bottle/train/good/004.png", "bottle/test/good/000.png",
        "bottle/test/good/001.png", "bottle/test/broken_large/000.png",
        "bottle/test/broken_large/001.png", "bottle/test/contamination/000.png",
        "bottle/ground_truth/broken_large/000_mask.png",
        "bottle/ground_truth/broken_large/001_mask.png",
        "bottle/ground_truth/contamination/000_mask.png", "cable/train/good/000.png",
        "cable/train/good/001.png", "cable/test/good/000.png", "cable/test/bent_wire/000.PNG",
        "cable/ground_truth/bent_wire/000_mask.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) write_png(files[i]);
    write_text("bottle/train/good/.DS_Store", "x");
    write_text("bottle/train/good/notes.txt", "not an image");
    write_text("license.txt", "a file at the root");
}

static void test_mvtec(void) {
    build_mvtec();
    am_error err = {0};
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err));
    if (!ds) return;
    CHECK(am_dataset_get_layout(ds) == AM_DATASET_MVTEC, "layout %d", am_dataset_get_layout(ds));
    CHECK(am_dataset_category_count(ds) == 2, "%d categories", am_dataset_category_count(ds));
    CHECK(strcmp(am_dataset_category_name(ds, 0), "bottle") == 0, "first bottle");
    CHECK(strcmp(am_dataset_category_name(ds, 1), "cable") == 0, "then cable");
    CHECK(am_dataset_train_count(ds, 0) == 5, "bottle train %d", am_dataset_train_count(ds, 0));
    CHECK(am_dataset_test_count(ds, 0) == 5, "bottle test %d", am_dataset_test_count(ds, 0));
    CHECK(am_dataset_has_masks(ds, 0) == 1, "MVTec has masks");
    const char *order[5] = {"bottle/test/broken_large/000.png", "bottle/test/broken_large/001.png",
                            "bottle/test/contamination/000.png", "bottle/test/good/000.png",
                            "bottle/test/good/001.png"};
    for (int i = 0; i < 5; i++) {
        const am_dataset_item *it = am_dataset_test_item(ds, 0, i);
        CHECK(it && strcmp(it->name, order[i]) == 0, "test %d is %s", i, it ? it->name : "-");
        if (!it) continue;
        CHECK(strncmp(it->path, tmp_root, strlen(tmp_root)) == 0, "path under root: %s", it->path);
        CHECK(it->train_index == -1, "no shared training images");
        if (i < 3) {
            CHECK(it->label == 1 && it->mask != NULL, "%s anomalous with mask", it->name);
        } else {
            CHECK(it->label == 0 && it->mask == NULL && strcmp(it->defect, "good") == 0,
                  "%s normal", it->name);
        }
    }
    const am_dataset_item *it = am_dataset_test_item(ds, 0, 1);
    CHECK(it && strcmp(it->defect, "broken_large") == 0, "defect type");
    CHECK(it && strcmp(it->mask, sub("bottle/ground_truth/broken_large/001_mask.png")) == 0,
          "mask %s", it ? it->mask : "-");
    it = am_dataset_test_item(ds, 1, 0);
    CHECK(it && strcmp(it->name, "cable/test/bent_wire/000.PNG") == 0, "upper-case extension");
    CHECK(am_dataset_train_item(ds, 0, 5) == NULL && am_dataset_test_item(ds, 2, 0) == NULL,
          "out of range is NULL");
    CHECK(strcmp(am_dataset_train_item(ds, 0, 4)->name, "bottle/train/good/004.png") == 0,
          "train sorted");

    /* k-shot: deterministic, distinct, sorted, seed-dependent. */
    int32_t a[3], b[3], c[3];
    CHECK_OK(am_dataset_select_shots(ds, 0, 3, 0, a, &err));
    CHECK_OK(am_dataset_select_shots(ds, 0, 3, 0, b, &err));
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same shots");
    CHECK(a[0] < a[1] && a[1] < a[2] && a[0] >= 0 && a[2] < 5, "sorted distinct %d %d %d", a[0],
          a[1], a[2]);
    int differs = 0;
    for (uint64_t seed = 1; seed < 8; seed++) {
        CHECK_OK(am_dataset_select_shots(ds, 0, 3, seed, c, &err));
        differs |= memcmp(a, c, sizeof a) != 0;
    }
    CHECK(differs, "other seeds draw other shots");
    int32_t all[5];
    CHECK_OK(am_dataset_select_shots(ds, 0, 5, 9, all, &err));
    CHECK(all[0] == 0 && all[4] == 4, "k = n draws all");
    CHECK(am_dataset_select_shots(ds, 0, 6, 0, all, &err) == AM_ERR_ARGUMENT, "k > n refused");
    CHECK(strstr(err.message, "bottle") != NULL, "message names the category: %s", err.message);
    CHECK(am_dataset_select_shots(ds, 0, 0, 0, all, &err) == AM_ERR_ARGUMENT, "k = 0 refused");
    am_dataset_free(ds);

    /* A subset, and a misspelt category. */
    const char *only[1] = {"cable"};
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_MVTEC, only, 1, &ds, &err));
    CHECK(ds && am_dataset_category_count(ds) == 1, "subset");
    am_dataset_free(ds);
    const char *typo[2] = {"cable", "bottel"};
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, typo, 2, &ds, &err) == AM_ERR_NOT_FOUND,
          "unknown category refused");
    CHECK(ds == NULL, "no dataset on failure");
    CHECK(strstr(err.message, "'bottel'") && strstr(err.message, "MVTec AD categories: bottle"),
          "message: %s", err.message);
    const char *twice[2] = {"cable", "cable"};
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, twice, 2, &ds, &err) == AM_ERR_ARGUMENT,
          "duplicate selection refused");

    /* One category folder as the root. */
    CHECK_OK(am_dataset_open(sub("bottle"), AM_DATASET_AUTO, NULL, 0, &ds, &err));
    CHECK(ds && am_dataset_category_count(ds) == 1 &&
              strcmp(am_dataset_category_name(ds, 0), "bottle") == 0,
          "category root");
    if (ds)
        CHECK(strcmp(am_dataset_test_item(ds, 0, 0)->name, "test/broken_large/000.png") == 0,
              "names relative to the category root");
    am_dataset_free(ds);

    /* Missing masks and images: all reported, by path, before any compute. */
    remove_file("bottle/ground_truth/broken_large/001_mask.png");
    remove_file("cable/ground_truth/bent_wire/000_mask.png");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_NOT_FOUND,
          "missing masks refused");
    CHECK(strstr(err.message, "2 problems") != NULL, "count: %s", err.message);
    CHECK(strstr(err.message, "missing mask bottle/ground_truth/broken_large/001_mask.png"),
          "names the first: %s", err.message);
    CHECK(strstr(err.message, "cable/ground_truth/bent_wire/000_mask.png"), "names the second: %s",
          err.message);
    write_png("bottle/ground_truth/broken_large/001_mask.png");
    write_png("cable/ground_truth/bent_wire/000_mask.png");
    write_text("bottle/test/good/002.bmp", "BM");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_UNSUPPORTED,
          "BMP refused");
    CHECK(strstr(err.message, "bottle/test/good/002.bmp"), "names the file: %s", err.message);
    remove_file("bottle/test/good/002.bmp");

    /* Many problems: the message stays bounded and counts the rest. */
    char path[128];
    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof path, "bottle/test/crack/%03d.png", i);
        write_png(path);
    }
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_NOT_FOUND,
          "40 missing masks");
    CHECK(strstr(err.message, "40 problems") && strstr(err.message, "more"), "bounded: %s",
          err.message);
    CHECK(strlen(err.message) < AM_ERROR_MESSAGE_SIZE - 1, "message fits");
}

/* ---- VisA -------------------------------------------------------------- */

static const char *visa_csv =
    "\xEF\xBB\xBFobject,split,label,image,mask\r\n"
    "candle,train,normal,candle/Data/Images/Normal/0002.JPG,\r\n"
    "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\r\n"
    "candle,train,normal,\"candle/Data/Images/Normal/0001.JPG\",\r\n"
    "\r\n"
    "candle,test,normal,candle/Data/Images/Normal/0003.JPG,\r\n"
    "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\r\n"
    "candle,test,anomaly,candle/Data/Images/Anomaly/001.JPG,candle/Data/Masks/Anomaly/001.png\r\n"
    "pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG,\r\n"
    "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pcb1/Data/Masks/Anomaly/000.png\r\n";

static void build_visa(const char *csv) {
    fresh_root();
    write_text("split_csv/1cls.csv", csv);
    const char *files[] = {
        "candle/Data/Images/Normal/0000.JPG",  "candle/Data/Images/Normal/0001.JPG",
        "candle/Data/Images/Normal/0002.JPG",  "candle/Data/Images/Normal/0003.JPG",
        "candle/Data/Images/Anomaly/000.JPG",  "candle/Data/Images/Anomaly/001.JPG",
        "candle/Data/Masks/Anomaly/000.png",   "candle/Data/Masks/Anomaly/001.png",
        "pcb1/Data/Images/Normal/0000.JPG",    "pcb1/Data/Images/Anomaly/000.JPG",
        "pcb1/Data/Masks/Anomaly/000.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) write_png(files[i]);
}

static void test_visa(void) {
    build_visa(visa_csv);
    am_error err = {0};
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err));
    if (!ds) return;
    CHECK(am_dataset_get_layout(ds) == AM_DATASET_VISA, "layout");
    CHECK(am_dataset_category_count(ds) == 2, "categories");
    CHECK(strcmp(am_dataset_category_name(ds, 0), "candle") == 0, "candle first");
    CHECK(am_dataset_train_count(ds, 0) == 3 && am_dataset_test_count(ds, 0) == 3, "candle counts");
    CHECK(strcmp(am_dataset_train_item(ds, 0, 0)->name, "candle/Data/Images/Normal/0000.JPG") == 0,
          "train sorted, quotes removed");
    const am_dataset_item *it = am_dataset_test_item(ds, 0, 0);
    CHECK(strcmp(it->name, "candle/Data/Images/Anomaly/000.JPG") == 0, "test sorted: %s",
          it->name);
    CHECK(it->label == 1 && strcmp(it->defect, "anomaly") == 0, "anomaly");
    CHECK(it->mask && strcmp(it->mask, sub("candle/Data/Masks/Anomaly/000.png")) == 0, "mask");
    it = am_dataset_test_item(ds, 0, 2);
    CHECK(it->label == 0 && it->mask == NULL && strcmp(it->defect, "good") == 0, "normal");
    am_dataset_free(ds);

    const char *pcb[1] = {"pcb1"};
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_VISA, pcb, 1, &ds, &err));
    CHECK(ds && am_dataset_category_count(ds) == 1 && am_dataset_test_count(ds, 0) == 1, "pcb1");
    am_dataset_free(ds);
    const char *bad_name[1] = {"pcb9"};
    CHECK(am_dataset_open(tmp_root, AM_DATASET_VISA, bad_name, 1, &ds, &err) == AM_ERR_NOT_FOUND,
          "pcb9 refused");
    CHECK(strstr(err.message, "pcb9") && strstr(err.message, "VisA categories: candle"), "%s",
          err.message);

    remove_file("candle/Data/Masks/Anomaly/001.png");
    remove_file("pcb1/Data/Images/Normal/0000.JPG");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_NOT_FOUND,
          "missing files refused");
    CHECK(strstr(err.message, "missing mask candle/Data/Masks/Anomaly/001.png") &&
              strstr(err.message, "missing image pcb1/Data/Images/Normal/0000.JPG"),
          "%s", err.message);

    /* Rows that contradict themselves, with their line numbers. */
    build_visa("object,split,label,image,mask\n"
               "candle,train,anomaly,candle/Data/Images/Anomaly/000.JPG,"
               "candle/Data/Masks/Anomaly/000.png\n"
               "candle,test,anomaly,candle/Data/Images/Anomaly/001.JPG,\n"
               "candle,test,normal,candle/Data/Images/Normal/0003.JPG,"
               "candle/Data/Masks/Anomaly/000.png\n"
               "candle,val,normal,candle/Data/Images/Normal/0000.JPG,\n"
               "candle,test,normal,candle/Data/Images/Normal/0000.JPG,\n"
               "candle,test,normal,candle/Data/Images/Normal/0000.JPG,\n");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) != AM_OK, "bad rows");
    CHECK(strstr(err.message, "1cls.csv:2: training image") &&
              strstr(err.message, "1cls.csv:3: anomalous image") &&
              strstr(err.message, "1cls.csv:4: normal image") &&
              strstr(err.message, "1cls.csv:5: split 'val'") &&
              strstr(err.message, "listed twice"),
          "%s", err.message);

    build_visa("object,split,label,image\ncandle,train,normal,a.png\n");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_FORMAT,
          "no mask column");
    CHECK(strstr(err.message, "1cls.csv:1: the header has no column 'mask'"), "%s", err.message);
}

/* The parser alone: quoting, line ends, errors with line numbers. */
static void test_csv_parser(void) {
    am_visa_table t;
    am_error err = {0};
    const char *ok = "mask,image,extra,label,split,object\r"
                     "\"m,1\",\"say \"\"hi\"\"\",x,normal,train,candle\r"
                     "   \n"
                     " , \"multi\nline\" ,x, anomaly ,test,pcb1\n"
                     ",c.png,,normal,test,\"\"";
    CHECK_OK(am_visa_csv_parse(ok, strlen(ok), "t.csv", &t, &err));
    CHECK(t.count == 3, "%lld rows", (long long)t.count);
    if (t.count == 3) {
        CHECK(strcmp(t.rows[0].mask, "m,1") == 0, "comma in quotes: %s", t.rows[0].mask);
        CHECK(strcmp(t.rows[0].image, "say \"hi\"") == 0, "doubled quotes: %s", t.rows[0].image);
        CHECK(strcmp(t.rows[0].object, "candle") == 0 && t.rows[0].line == 2, "CR line ends");
        CHECK(strcmp(t.rows[1].image, "multi\nline") == 0 && t.rows[1].line == 4,
              "newline in quotes, blank line skipped (line %lld)", (long long)t.rows[1].line);
        CHECK(strcmp(t.rows[1].label, "anomaly") == 0 && t.rows[1].mask[0] == 0, "trimmed");
        CHECK(t.rows[2].line == 6 && t.rows[2].object[0] == 0, "last row without newline");
    }
    am_visa_table_free(&t);

    static const struct {
        const char *text, *needle;
        am_status code;
    } bad[] = {
        {"object,split,label,image,mask\na,b,c,\"d,e\n", "t.csv:2: a quoted field is not closed",
         AM_ERR_FORMAT},
        {"object,split,label,image,mask\na,b,c,d\n", "t.csv:2: 4 fields where the header has 5",
         AM_ERR_FORMAT},
        {"object,split,label,image\n", "t.csv:1: the header has no column 'mask'", AM_ERR_FORMAT},
        {"object,split,label,image,mask,Object\n", "column 'object' appears twice",
         AM_ERR_FORMAT},
        {"object,split,label,image,mask\na,b,c,d\"x,e\n", "t.csv:2: a quote inside", AM_ERR_FORMAT},
        {"object,split,label,image,mask\na,b,\"c\"x,d,e\n", "after a closing quote", AM_ERR_FORMAT},
        {"\n\n", "empty split file", AM_ERR_FORMAT},
        {"", "empty split file", AM_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        am_status st = am_visa_csv_parse(bad[i].text, strlen(bad[i].text), "t.csv", &t, &err);
        CHECK(st == bad[i].code && strstr(err.message, bad[i].needle), "case %zu: %s", i,
              err.message);
        CHECK(t.rows == NULL && t.count == 0, "nothing returned on failure");
    }
    const char nul[] = "object,split,label,image,mask\na,b\0,c,d,e\n";
    CHECK(am_visa_csv_parse(nul, sizeof nul - 1, "t.csv", &t, &err) == AM_ERR_FORMAT &&
              strstr(err.message, "t.csv:2: NUL byte"),
          "%s", err.message);
    size_t big = AM_VISA_CSV_MAX_RECORD + 100;
    char *longline = malloc(big + 64);
    strcpy(longline, "object,split,label,image,mask\na,b,c,");
    size_t n = strlen(longline);
    memset(longline + n, 'x', big);
    strcpy(longline + n + big, ",e\n");
    CHECK(am_visa_csv_parse(longline, strlen(longline), "t.csv", &t, &err) == AM_ERR_LIMIT &&
              strstr(err.message, "t.csv:2: record longer"),
          "%s", err.message);
    free(longline);

    /* The real split file: 10 821 rows of the 12 VisA categories. */
    const char *real = check_shared_path("data/visa-split/1cls.csv");
    FILE *f = fopen(real, "rb");
    CHECK(f != NULL, "cannot open %s", real);
    if (!f) return;
    char *text = malloc(2 << 20);
    size_t size = fread(text, 1, 2 << 20, f);
    fclose(f);
    CHECK_OK(am_visa_csv_parse(text, size, real, &t, &err));
    CHECK(t.count == 10821, "%lld rows", (long long)t.count);
    int64_t train = 0, test_normal = 0, test_anomaly = 0, with_mask = 0;
    int32_t nknown;
    const char *const *known = am_dataset_known_categories(AM_DATASET_VISA, &nknown);
    int64_t unknown = 0;
    for (int64_t i = 0; i < t.count; i++) {
        const am_visa_row *r = &t.rows[i];
        train += strcmp(r->split, "train") == 0 && strcmp(r->label, "normal") == 0;
        test_normal += strcmp(r->split, "test") == 0 && strcmp(r->label, "normal") == 0;
        test_anomaly += strcmp(r->split, "test") == 0 && strcmp(r->label, "anomaly") == 0;
        with_mask += r->mask[0] != 0;
        int found = 0;
        for (int32_t k = 0; k < nknown; k++) found |= strcmp(known[k], r->object) == 0;
        unknown += !found;
    }
    CHECK(train == 8659 && test_normal == 962 && test_anomaly == 1200,
          "train %lld, test normal %lld, anomaly %lld", (long long)train, (long long)test_normal,
          (long long)test_anomaly);
    CHECK(with_mask == 1200 && unknown == 0 && nknown == 12, "masks %lld, unknown objects %lld",
          (long long)with_mask, (long long)unknown);
    CHECK(strcmp(t.rows[0].image, "candle/Data/Images/Normal/0836.JPG") == 0, "no CR kept: %s",
          t.rows[0].image);
    am_visa_table_free(&t);
    free(text);
}

/* ---- folder ------------------------------------------------------------ */

static void build_folder(void) {
    fresh_root();
    const char *files[] = {"good/a.png",       "good/b.jpg",         "good/c.JPEG",
                           "good/d.png",       "bad/x.png",          "bad/y.png",
                           "scratch/x.png",    "masks/bad/x.png",    "masks/y_mask.png",
                           "masks/scratch/x.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) write_png(files[i]);
}

static void test_folder(void) {
    build_folder();
    am_error err = {0};
    am_dataset *ds = NULL;
    const char *name[1] = {"widget"};
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_AUTO, name, 1, &ds, &err));
    if (!ds) return;
    CHECK(am_dataset_get_layout(ds) == AM_DATASET_FOLDER, "layout");
    CHECK(am_dataset_category_count(ds) == 1 &&
              strcmp(am_dataset_category_name(ds, 0), "widget") == 0,
          "named category");
    CHECK(am_dataset_test_count(ds, 0) == 7 && am_dataset_train_count(ds, 0) == 4, "%d test %d train",
          am_dataset_test_count(ds, 0), am_dataset_train_count(ds, 0));
    CHECK(am_dataset_has_masks(ds, 0) == 1, "masks");
    const char *expect_mask[3] = {"masks/bad/x.png", "masks/y_mask.png", "masks/scratch/x.png"};
    const char *expect_name[7] = {"bad/x.png", "bad/y.png", "good/a.png", "good/b.jpg",
                                  "good/c.JPEG", "good/d.png", "scratch/x.png"};
    for (int i = 0; i < 7; i++) {
        const am_dataset_item *it = am_dataset_test_item(ds, 0, i);
        CHECK(strcmp(it->name, expect_name[i]) == 0, "test %d: %s", i, it->name);
        int anomalous = i < 2 || i == 6;
        CHECK(it->label == anomalous, "%s label", it->name);
        if (anomalous) {
            const char *want = expect_mask[i < 2 ? i : 2];
            CHECK(it->mask && strcmp(it->mask, sub(want)) == 0, "%s mask %s", it->name,
                  it->mask ? it->mask : "none");
            CHECK(it->train_index == -1, "anomalous not shared");
        } else {
            CHECK(it->train_index == i - 2, "%s is training image %d", it->name, it->train_index);
            CHECK(strcmp(am_dataset_train_item(ds, 0, it->train_index)->name, it->name) == 0,
                  "link");
        }
    }
    CHECK(strcmp(am_dataset_test_item(ds, 0, 6)->defect, "scratch") == 0, "defect from folder");
    am_dataset_free(ds);

    /* The root's name by default; train/ takes over the references. */
    write_png("train/t1.png");
    write_png("train/t2.png");
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_FOLDER, NULL, 0, &ds, &err));
    if (ds) {
        CHECK(strcmp(am_dataset_category_name(ds, 0), strrchr(tmp_root, '/') + 1) == 0,
              "root name %s", am_dataset_category_name(ds, 0));
        CHECK(am_dataset_train_count(ds, 0) == 2 && am_dataset_test_count(ds, 0) == 7, "train/");
        CHECK(am_dataset_test_item(ds, 0, 2)->train_index == -1, "not shared");
    }
    am_dataset_free(ds);

    /* A missing mask; then a flat mask two defects would share. */
    remove_file("masks/y_mask.png");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_NOT_FOUND,
          "missing mask");
    CHECK(strstr(err.message, "1 problem: no mask for bad/y.png"), "%s", err.message);
    remove_file("masks/bad/x.png");
    remove_file("masks/scratch/x.png");
    write_png("masks/x.png");
    write_png("masks/bad/y.png");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_FORMAT,
          "shared mask");
    CHECK(strstr(err.message, "mask masks/x.png matches both bad/x.png and scratch/x.png"), "%s",
          err.message);

    /* Without masks/: no masks, no pixel metrics. */
    fresh_root();
    write_png("good/a.png");
    write_png("bad/b.png");
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err));
    if (ds) {
        CHECK(am_dataset_has_masks(ds, 0) == 0, "no masks");
        CHECK(am_dataset_test_item(ds, 0, 0)->mask == NULL, "mask NULL");
    }
    am_dataset_free(ds);

    /* Several folder-layout categories under one root. */
    fresh_root();
    write_png("nuts/good/a.png");
    write_png("nuts/dent/a.png");
    write_png("bolts/good/a.png");
    write_png("bolts/rust/a.png");
    write_png("bolts/rust/b.png");
    CHECK_OK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err));
    if (ds) {
        CHECK(am_dataset_category_count(ds) == 2 &&
                  strcmp(am_dataset_category_name(ds, 0), "bolts") == 0,
              "two categories");
        CHECK(am_dataset_test_count(ds, 0) == 3 &&
                  strcmp(am_dataset_test_item(ds, 0, 0)->name, "bolts/good/a.png") == 0,
              "bolts listed");
    }
    am_dataset_free(ds);
}

static void test_misc(void) {
    am_error err = {0};
    am_dataset *ds = NULL;
    fresh_root();
    CHECK(am_dataset_open(tmp_root, AM_DATASET_AUTO, NULL, 0, &ds, &err) == AM_ERR_FORMAT,
          "empty root");
    CHECK(strstr(err.message, "cannot tell the dataset layout"), "%s", err.message);
    CHECK(am_dataset_open(sub("nowhere"), AM_DATASET_AUTO, NULL, 0, &ds, &err) ==
              AM_ERR_NOT_FOUND,
          "missing root");
    CHECK(am_dataset_open(tmp_root, AM_DATASET_VISA, NULL, 0, &ds, &err) == AM_ERR_IO ||
              err.code == AM_ERR_NOT_FOUND,
          "VisA without split file: %s", err.message);
    CHECK(strstr(err.message, "1cls.csv"), "names the split file: %s", err.message);
    const char *slash[1] = {"a/b"};
    CHECK(am_dataset_open(tmp_root, AM_DATASET_MVTEC, slash, 1, &ds, &err) == AM_ERR_ARGUMENT,
          "category with a slash");
    am_dataset_layout l;
    CHECK(am_dataset_layout_from_name("VisA", &l, &err) == AM_OK && l == AM_DATASET_VISA, "visa");
    CHECK(am_dataset_layout_from_name("mvtec_ad", &l, &err) == AM_OK && l == AM_DATASET_MVTEC,
          "mvtec_ad");
    CHECK(am_dataset_layout_from_name("coco", &l, &err) == AM_ERR_ARGUMENT, "coco refused");
    CHECK(strcmp(am_dataset_layout_name(AM_DATASET_FOLDER), "folder") == 0, "name");
    int32_t n;
    const char *const *known = am_dataset_known_categories(AM_DATASET_MVTEC, &n);
    CHECK(n == 15 && strcmp(known[0], "bottle") == 0 && strcmp(known[14], "zipper") == 0,
          "MVTec AD list");
    CHECK(am_dataset_known_categories(AM_DATASET_FOLDER, &n) == NULL && n == 0, "no list");
}

int main(void) {
    test_mvtec();
    test_visa();
    test_csv_parser();
    test_folder();
    test_misc();
    if (tmp_root[0]) nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary();
}
