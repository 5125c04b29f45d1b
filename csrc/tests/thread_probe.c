/* The thread probe of the tests under an emulator (emulator.sh): starts a second
 * thread that takes a mutex, joins it, and exits 0. A qemu-user that cannot run
 * threads hangs here, where the probe's caller can time it out, instead of in a
 * test. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int counter = 0;

static void *count_once(void *arg)
{
    pthread_mutex_lock(&lock);
    counter++;
    pthread_mutex_unlock(&lock);
    return arg;
}

int main(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, count_once, NULL) != 0) {
        fprintf(stderr, "thread_probe: pthread_create failed\n");
        return 1;
    }
    pthread_join(thread, NULL);
    return counter == 1 ? 0 : 1;
}
