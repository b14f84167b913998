"""Fashion-MNIST with data augmentation, in the tf.keras style of the TensorFlow 2 tutorials."""
import tensorflow as tf
from tensorflow.keras.preprocessing.image import ImageDataGenerator
from tensorflow.keras.callbacks import EarlyStopping

fashion_mnist = tf.keras.datasets.fashion_mnist
(train_images, train_labels), (test_images, test_labels) = fashion_mnist.load_data()
train_images = train_images.reshape(-1, 28, 28, 1) / 255.0

datagen = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1,
                             zoom_range=0.1, horizontal_flip=True)
datagen.fit(train_images)

model = tf.keras.models.Sequential()
model.add(tf.keras.layers.Conv2D(16, 3, activation=tf.nn.relu, padding='same', input_shape=(28, 28, 1)))
model.add(tf.keras.layers.MaxPooling2D(2))
model.add(tf.keras.layers.Conv2D(32, 3, padding='same'))
model.add(tf.keras.layers.Activation('relu'))
model.add(tf.keras.layers.MaxPooling2D(2))
model.add(tf.keras.layers.Flatten())
model.add(tf.keras.layers.Dense(64, activation='relu'))
model.add(tf.keras.layers.Dense(10, activation='softmax'))

model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.001),
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])

stop = EarlyStopping(monitor='val_loss', patience=3, restore_best_weights=True)
model.fit(datagen.flow(train_images, train_labels, batch_size=64), epochs=10,
          validation_data=(test_images, test_labels), callbacks=[stop])
