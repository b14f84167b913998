import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


class Scale(layers.Layer):
    def call(self, x):
        return x * 2.0


sizes = load_sizes()
model = keras.Sequential()
model.add(layers.Dense(16, activation="relu", input_shape=(8,)))
model.add(layers.Lambda(lambda x: x * 2))
for units in sizes:
    model.add(layers.Dense(units))
for _ in range(2):
    model.add(layers.Dense(4, activation="relu"))
model.add(layers.Dense(1))
optimizer = keras.optimizers.Adam()
with tf.GradientTape() as tape:
    loss = model(x)
