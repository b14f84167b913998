"""Two inputs, one shared trunk, two outputs (the functional API guide's multi-input shape)."""
import keras
from keras import layers

specs = keras.Input(shape=(6,), name="specs")
extra = keras.Input(shape=(3,), name="extra")
a = layers.Dense(32, activation="relu")(specs)
b = layers.Dense(8, activation="relu")(extra)
trunk = layers.concatenate([a, b])
trunk = layers.Dense(32, activation="relu")(trunk)
mpg = layers.Dense(1, name="mpg")(trunk)
origin = layers.Dense(3, activation="softmax", name="origin")(trunk)
model = keras.Model(inputs=[specs, extra], outputs=[mpg, origin])
model.compile(optimizer="adam", loss={"mpg": "mse", "origin": "sparse_categorical_crossentropy"})
