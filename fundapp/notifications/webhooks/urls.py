from django.urls import path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("new/", views.subscription_create, name="create"),
    path("<int:pk>/", views.subscription_detail, name="detail"),
    path("<int:pk>/edit/", views.subscription_edit, name="edit"),
    path("<int:pk>/deactivate/", views.subscription_deactivate, name="deactivate"),
    path("<int:pk>/reactivate/", views.subscription_reactivate, name="reactivate"),
    path("<int:pk>/delete/", views.subscription_delete, name="delete"),
    path("<int:pk>/rotate-secret/", views.subscription_rotate_secret, name="rotate_secret"),
    path("<int:pk>/ping/", views.subscription_ping, name="ping"),
    path(
        "<int:pk>/deliveries/<int:delivery_id>/redeliver/",
        views.delivery_redeliver,
        name="redeliver",
    ),
]
