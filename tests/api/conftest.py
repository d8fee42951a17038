"""The API tests call each function's deployed handler (Powertools) with API Gateway's
events. The FastAPI + Mangum variant the benchmarks compare it with is held to the same
answers by test_fastapi_variant.py alone."""
