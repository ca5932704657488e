"""One process of a distributed `train` run: `python multi_process_run.py OUTPUT_DIR EPOCHS [DIE_AFTER]`.

The launcher sets Keras's cluster variables (`KERAS_DISTRIBUTION_JOB_ADDRESSES`,
`..._NUM_PROCESSES`, `..._PROCESS_ID`) for a job of several processes, or none
for the one-process reference. Every process trains the same tiny latent run
on the test fixture; process 0 writes the checkpoint. With DIE_AFTER, the
process kills itself (SIGKILL, no clean-up) once that many epochs are done.
"""

import os
import pathlib
import signal
import sys

from keras_sgm.recipes.callbacks import EpochTimer
from keras_sgm.recipes.config import TrainingConfig
from keras_sgm.recipes.training import train

FIXTURE = pathlib.Path(__file__).parents[1] / "data" / "mnist_fixture.npz"

output_dir, epochs = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    die_after, timed = int(sys.argv[3]), EpochTimer.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        timed(self, epoch, logs)
        if epoch + 1 == die_after:
            os.kill(os.getpid(), signal.SIGKILL)

    EpochTimer.on_epoch_end = on_epoch_end
train(TrainingConfig(output_dir=output_dir, data=str(FIXTURE), epochs=epochs, batch_size=16, steps_per_epoch=3,
                     latent=False, channels=(8, 16), num_samples=4, verbose=2, distribute="auto"))
