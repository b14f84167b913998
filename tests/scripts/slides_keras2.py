# The course slides' example, as the slides write it (Keras 2).
from keras.models import Sequential
from keras.layers.core import Dense
from keras.optimizers import SGD

model = Sequential()
model.add(Dense(128, input_dim=200, activation="sigmoid"))
model.add(Dense(256, activation="sigmoid"))
model.add(Dense(5, activation="softmax"))

sgd = SGD(lr=0.01, momentum=0.0, decay=0.0)
model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
model.fit(X_train, Y_train, batch_size=16, epochs=30, shuffle=True, validation_split=0.1)
