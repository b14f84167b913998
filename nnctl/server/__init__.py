"""`nnctl serve`: a finished run behind TensorFlow Serving's REST API (FastAPI on uvicorn).

app.py holds the routes and their errors, batcher.py the micro-batching of concurrent requests
into one model call off the event loop, serving.py the socket, uvicorn and a graceful stop.
Instances go through the run's `Predictor` (commands/predict.py), the same reading and the same
columns as `nnctl predict`.
"""
